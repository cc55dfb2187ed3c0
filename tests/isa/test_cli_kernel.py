"""`codesign kernel`: counts, JSON, --check, user errors."""

import json

from codesign.cli import main


def test_json_counts(capsys):
    assert main(["kernel", "softmax", "--isa", "rvv+xattn", "--shape", "M=2,N=100",
                 "--format", "json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["instructions_total"] == sum(obj["instructions_by_class"].values())
    assert obj["instructions_by_class"]["exp"] == obj["instructions_by_mnemonic"]["vfexpsub.vf"]
    assert obj["isa"] == "rvv+xattn"
    assert obj["flops"] == 5 * 2 * 100  # softmax: max, subtract, exp, sum, divide per element


def test_table_asm_and_check(capsys):
    rc = main(["kernel", "attention", "--isa", "rvv", "--shape",
               "B=1,Hq=2,Hkv=1,Sq=1,Skv=9,D=8", "--vlen", "256", "--asm", "--check"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "vfredusum.vs" in out and "total" in out and "check: worst error" in out
    assert out.rstrip().endswith("ok")


def test_user_errors_exit_2_with_one_line(capsys):
    for argv, msg in [
        (["kernel", "softmax", "--isa", "rvv+nope", "--shape", "M=1,N=4"], "unknown extension"),
        (["kernel", "softmax", "--shape", "M=x"], "not an integer"),
        (["kernel", "conv9", "--shape", "M=1"], "unknown kernel kind"),
        (["kernel", "elementwise", "--op", "pow", "--shape", "M=1,N=4,exponent=x"],
         "not a number"),
        (["kernel", "softmax", "--shape", "M=1"], "needs shape field N"),
        (["kernel", "norm", "--op", "layernorm", "--shape", "M=1,N=4"], "supported"),
        # before: an unknown field was silently ignored (Foo=3, or a typo such as Skv→SKV)
        (["kernel", "softmax", "--shape", "M=1,N=64,Foo=3"],
         "unknown --shape field 'Foo' for softmax; valid: M, N"),
        (["kernel", "attention", "--shape", "B=1,Hq=2,Hkv=1,Sq=1,SKV=9,D=8"],
         "unknown --shape field 'SKV' for attention; valid: B, Hq, Hkv, Sq, Skv, D, window, "
         "causal"),
        (["kernel", "norm", "--shape", "M=1,N=4,exponent=2"],
         "unknown --shape field 'exponent' for norm; valid: M, N, eps"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1


def test_new_kinds_count_and_check(capsys):
    for argv in (["kernel", "linear_attention", "--op", "recurrent_gated_delta_rule", "--shape",
                  "B=1,Hq=2,Sq=1,D=16,Dv=16,chunk=0", "--vlen", "128"],
                 ["kernel", "conv1d", "--op", "causal_conv1d_update", "--shape",
                  "B=1,N=40,Sq=1,W=4"],
                 ["kernel", "router", "--shape", "M=2,N=64,topk=4"],
                 ["kernel", "embedding", "--shape", "M=2,N=64,K=10"],
                 ["kernel", "elementwise", "--op", "pow", "--shape", "M=2,N=30,exponent=0.5"]):
        assert main([*argv, "--check"]) == 0, argv
        assert capsys.readouterr().out.rstrip().endswith("ok")
