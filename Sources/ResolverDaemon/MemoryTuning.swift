import CMalloc
import Logging

/// How `resolverd serve` asks glibc's allocator to behave. By default glibc raises its limits as large blocks
/// come and go, so that blocks of a megabyte or more end up carved from the heaps, and megabytes freed after a
/// burst of requests, or once the resolve cache has grown its tables, stay held. A fixed trim threshold keeps
/// the limits where they are: large blocks get mappings of their own and go back whole when freed. 1 MiB rather
/// than less: a lower threshold returned no more and would trim the heaps more often under load
/// (docs/performance.md, "Memory").
enum MemoryTuning {
    /// Free memory kept at the top of a heap before the rest goes back to the system.
    static let trimThreshold = 1 << 20

    /// Applies ``trimThreshold``, unless the operator tuned the allocator through the environment
    /// (`MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`, or a `glibc.malloc` tunable in `GLIBC_TUNABLES`):
    /// then theirs stands. Returns whether it applied.
    @discardableResult
    static func apply(environment: [String: String]) -> Bool {
        let tunedByOperator =
            environment["MALLOC_TRIM_THRESHOLD_"] != nil || environment["MALLOC_MMAP_THRESHOLD_"] != nil
            || (environment["GLIBC_TUNABLES"] ?? "").contains("glibc.malloc.")
        guard !tunedByOperator else { return false }
        return resolverd_set_malloc_trim_threshold(trimThreshold) == 1
    }

    /// Once the daemon is up, drops the pages of its own code from memory (MADV_PAGEOUT): the code it keeps running
    /// comes back at once, on first use, while the code only start-up ran (argument parsing, settings, migrations, the
    /// libraries' initialisation), and its neighbours the kernel maps along with every page it faults in, stay out
    /// (what that saves is in docs/performance.md, "Memory"). Clean pages of the executable file, so nothing is
    /// written anywhere; pages another process maps too
    /// (a second daemon on the host) are left alone by the kernel. Returns the bytes advised, or nil when the kernel
    /// refused (before Linux 5.4), which changes nothing else.
    @discardableResult
    static func pageOutStartupCode(logger: Logger) -> Int? {
        let result = resolverd_page_out_program_code()
        guard result >= 0 else {
            logger.debug("code pages stay resident: the kernel refused MADV_PAGEOUT", metadata: ["errno": "\(-result)"])
            return nil
        }
        logger.debug("paged out start-up code", metadata: ["bytes": "\(result)"])
        return result
    }
}
