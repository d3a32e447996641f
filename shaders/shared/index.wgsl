// Index helpers shared by all kernels.

// Linear workgroup index of a dispatch whose 1-D workgroup count was folded into an x·y grid by
// Engine::grid (needed above 65,535 workgroups in one dimension).
fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}
