import RefreshScheduler

/// What one run measures, from the command line.
struct BenchSettings: Sendable {
    var databaseURL: String
    /// Connectors made due at once.
    var connectors: Int
    /// The scheduler's limit on provider calls in flight, overall and for the one provider.
    var concurrency: Int
    /// Connectors taken per claim.
    var batchSize: Int
    /// How long the fake provider takes over each answer.
    var providerLatency: Duration = .milliseconds(20)
    /// The scheduler pool's size: what `resolverd serve` opens.
    var databaseConnections = 16
    /// How long the burst may take before the run is given up.
    var timeout: Duration = .seconds(600)

    /// `[program, URL, CONNECTORS, CONCURRENCY, BATCH?]`; nil when they do not parse.
    init?(arguments: [String]) {
        guard arguments.count == 4 || arguments.count == 5,
            let connectors = Int(arguments[2]), connectors > 0,
            let concurrency = Int(arguments[3]), concurrency > 0
        else { return nil }
        let batchSize = arguments.count == 5 ? Int(arguments[4]) : RefreshConfiguration().batchSize
        guard let batchSize, batchSize > 0 else { return nil }
        self.databaseURL = arguments[1]
        self.connectors = connectors
        self.concurrency = concurrency
        self.batchSize = batchSize
    }

    /// N × latency / C: every call in flight all the time, nothing else costing time.
    var idealSeconds: Double {
        Double(connectors) * providerLatency.seconds / Double(concurrency)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
