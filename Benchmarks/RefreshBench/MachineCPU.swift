import Foundation

/// The machine's CPU time from /proc/stat (every process: the scheduler, the fake provider in this process, and
/// PostgreSQL), to tell a burst limited by the scheduler from one limited by the cores it shares.
struct MachineCPU {
    var busy: Double
    var total: Double

    /// Seconds of CPU busy and in all, summed over the cores; nil where /proc/stat cannot be read.
    static func sample() -> MachineCPU? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return nil }
        // user nice system idle iowait irq softirq steal, in clock ticks (USER_HZ, 100 on Linux).
        let ticks = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
        guard ticks.count == 8 else { return nil }
        let idle = ticks[3] + ticks[4]
        let total = ticks.reduce(0, +)
        return MachineCPU(busy: (total - idle) / 100, total: total / 100)
    }

    static func - (end: MachineCPU, start: MachineCPU) -> MachineCPU {
        MachineCPU(busy: end.busy - start.busy, total: end.total - start.total)
    }

    var busyShare: Double { total > 0 ? busy / total : 0 }
}
