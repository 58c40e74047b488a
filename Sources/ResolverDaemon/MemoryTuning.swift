import CMalloc

/// How `resolverd serve` asks glibc's allocator to behave. By default glibc keeps freed memory for reuse and
/// raises its limits as large blocks come and go; after a burst of requests, or once the resolve cache has
/// grown its tables, megabytes stay held that the daemon no longer uses. A fixed trim threshold hands them
/// back (measured: 3-4 MiB less resident memory after `scripts/bench resolve`'s runs, at no measurable cost).
enum MemoryTuning {
    /// Free memory kept at the top of a heap before the rest goes back to the system.
    static let trimThreshold = 64 * 1024

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
