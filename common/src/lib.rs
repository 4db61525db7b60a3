//! Types and map names shared by the XDP program (`enforcer-ebpf`) and the
//! daemon (`enforcer`). Everything here is `#[repr(C)]` and `no_std` so both
//! sides agree on layout byte for byte; `aya::Pod` comes with the `user`
//! feature.
#![no_std]
