import CMalloc

/// How `resolverd serve` asks glibc's allocator to behave. By default glibc raises its limits as large blocks
/// come and go, so that blocks of a megabyte or more end up carved from the heaps, and megabytes freed after a
/// burst of requests, or once the resolve cache has grown its tables, stay held. A fixed trim threshold keeps
/// the limits where they are: large blocks get mappings of their own and go back whole when freed (measured:
/// 3-4 MiB less resident memory after `scripts/bench resolve`'s runs, at no measurable cost). 1 MiB rather
/// than less: a lower threshold returned no more here and would trim the heaps more often under load.
enum MemoryTuning {
    /// Free memory kept at the top of a heap before the rest goes back to the system.
    static let trimThreshold = 1 << 20

    /// Applies ``trimThreshold``, unless the operator tuned the allocator through the environment
    /// (`MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`, or a `glibc.malloc` tunable in `GLIBC_TUNABLES`):
    /// then theirs stands. Returns whether it applied.
    @discardableResult
    static func apply(environment: [String: String]) -> Bool {
        let tunedByOperator = environment["MALLOC_TRIM_THRESHOLD_"] != nil || environment["MALLOC_MMAP_THRESHOLD_"] != nil
            || (environment["GLIBC_TUNABLES"] ?? "").contains("glibc.malloc.")
        guard !tunedByOperator else { return false }
        return resolverd_set_malloc_trim_threshold(trimThreshold) == 1
    }
}
