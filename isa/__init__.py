"""RVV 1.0 and the Xattn attention extension as data, the kernel library and a functional executor."""
