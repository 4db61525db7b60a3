//! Owns the data plane: bpffs, loading and attaching the XDP program, pinning,
//! and reading/writing the ban, allow, scope, config and counter maps.
