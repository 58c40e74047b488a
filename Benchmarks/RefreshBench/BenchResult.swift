import Foundation
import ProviderFakes
import RefreshScheduler

/// What a run measured, as a table and as the one JSON line scripts/bench ends with.
struct BenchResult {
    var settings: BenchSettings
    /// From the statement making every connector due to the last refreshed token written.
    var seconds: Double
    /// What the scheduler executed in the benchmark's database; see ``ServerCounters``.
    var statements: [StatementCount]
    /// The scheduler's statements that failed (rolled back).
    var failedStatements: Int64
    /// All transactions in the benchmark's database but the benchmark's own: the round trips and the listener's reads.
    var transactions: Int64
    var outcomes: [RefreshOutcome: OutcomeTally.Entry]
    var provider: OAuthCounters
    var cpu: MachineCPU?

    var roundTrips: Int64 { statements.reduce(0) { $0 + $1.calls } + failedStatements }
    var ratioToIdeal: Double { seconds / settings.idealSeconds }
    var roundTripsPerRefresh: Double { Double(roundTrips) / Double(settings.connectors) }
    var refreshesPerSecond: Double { Double(settings.connectors) / seconds }
    /// Provider calls in flight on average, had each taken exactly the provider's latency (Little's law): what the
    /// scheduler achieved of its concurrency.
    var effectiveConcurrency: Double { refreshesPerSecond * settings.providerLatency.seconds }

    var json: String {
        String(format: #"{"bench":"refresh","tokens":%d,"concurrency":%d,"#, settings.connectors, settings.concurrency)
            + String(format: #""seconds":%.3f,"ideal_seconds":%.3f,"ratio_to_ideal":%.3f,"#, seconds, settings.idealSeconds, ratioToIdeal)
            + String(format: #""db_round_trips_per_refresh":%.2f}"#, roundTripsPerRefresh)
    }

    var table: String {
        let n = settings.connectors
        let latency = Int(settings.providerLatency.seconds * 1000)
        var lines = [
            "",
            "\(n) connectors due at once; provider answering in \(latency) ms; concurrency \(settings.concurrency), batch \(settings.batchSize), "
                + "\(settings.databaseConnections) database connections",
            "",
            row("time to refresh all", String(format: "%.3f s", seconds)),
            row("ideal (N × \(latency) ms / C)", String(format: "%.3f s", settings.idealSeconds)),
            row("ratio to ideal", String(format: "%.3f", ratioToIdeal), "target <= 1.5"),
            row("refreshes per second", String(format: "%.0f", refreshesPerSecond)),
            row("effective concurrency", String(format: "%.1f of %d", effectiveConcurrency, settings.concurrency), "refreshes/s × \(latency) ms"),
            row(
                "db round trips per refresh", String(format: "%.2f", roundTripsPerRefresh),
                "target <= 3; \(roundTrips) statements, \(failedStatements) of them failed"),
            row(
                "db transactions per refresh", String(format: "%.2f", Double(transactions) / Double(n)),
                "the round trips + the listener's reads of NOTIFYs"),
        ]
        if let cpu {
            let cores = ProcessInfo.processInfo.activeProcessorCount
            lines.append(
                row(
                    "machine CPU busy", String(format: "%.0f %% of %d cores", cpu.busyShare * 100, cores),
                    String(format: "%.2f ms of CPU per refresh: scheduler, fake provider and PostgreSQL together", cpu.busy * 1000 / Double(n))))
        }
        for (outcome, entry) in outcomes.sorted(by: { $0.value.count > $1.value.count }) {
            let (mean, longest) = (entry.mean.seconds * 1000, entry.longest.seconds * 1000)
            let timing = String(format: "each from start to write: mean %.1f ms, longest %.1f ms", mean, longest)
            lines.append(row("refreshes: \(outcome.rawValue)", "\(entry.count)", timing))
        }
        lines.append(row("provider refresh grants", "\(provider.refreshGrants)", "failed \(provider.failedRefreshGrants)"))
        lines += ["", "     calls per refresh rows/call  statement (pg_stat_statements)"]
        for statement in statements {
            let perCall = statement.calls == 0 ? 0 : Double(statement.rows) / Double(statement.calls)
            let figures = String(format: "%10lld %11.3f %9.2f", statement.calls, Double(statement.calls) / Double(n), perCall)
            lines.append(figures + "  " + Self.oneLine(statement.text, limit: 90))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func row(_ label: String, _ value: String, _ note: String = "") -> String {
        let padded = label.padding(toLength: 30, withPad: " ", startingAt: 0)
        let shown = String(repeating: " ", count: max(0, 16 - value.count)) + value
        return note.isEmpty ? padded + shown : padded + shown + "   (" + note + ")"
    }

    /// The statement's text on one line, whitespace collapsed, cut at `limit` characters.
    private static func oneLine(_ text: String, limit: Int) -> String {
        let words = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return words.count <= limit ? words : String(words.prefix(limit - 1)) + "…"
    }
}
