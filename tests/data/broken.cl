// A kernel that must not build: `y` is undeclared on line 3 (test_opencl_runtime).
__kernel void broken(__global float *x)
{
    x[0] = y;
}
