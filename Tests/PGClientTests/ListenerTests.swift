import Foundation
import PGClient
import PGLocalCluster
import PGTestSupport
import Testing

/// Gathers a listener's events so a test can wait for one with a deadline instead of hanging.
actor EventCollector {
    private(set) var events: [PGListenerEvent] = []

    init(_ stream: AsyncStream<PGListenerEvent>) {
        Task { await self.consume(stream) }
    }

    private func consume(_ stream: AsyncStream<PGListenerEvent>) async {
        for await event in stream { events.append(event) }
    }

    /// Waits up to `timeout` for an event after position `from` that satisfies `match`; returns its position.
    func waitFor(after from: Int = -1, timeout: Duration = .seconds(5), _ match: (PGListenerEvent) -> Bool) async -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let index = events.indices.first(where: { $0 > from && match(events[$0]) }) { return index }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}

func isNotification(channel: String, payload: String) -> (PGListenerEvent) -> Bool {
    { event in
        if case .notification(let note) = event { return note.channel == channel && note.payload == payload }
        return false
    }
}

/// Sends "busy" on `channel` again and again until the returned task is cancelled.
func notifyingWithoutPause(_ pool: PGConnectionPool, channel: String) -> Task<Void, Never> {
    Task {
        while !Task.isCancelled { try? await pool.notify(channel: channel, payload: "busy") }
    }
}

@Suite(.enabled(if: TestDatabase.isConfigured)) struct ListenerTests {
    @Test func deliversNotifications() async throws {
        try await TestDatabase.withSchema { pool, configuration in
            let channel = "chan_\(UUID().uuidString.prefix(6))"
            let collector = EventCollector(PGListener(configuration: configuration).events(channels: [channel, "other"]))
            let listening = try #require(await collector.waitFor { $0 == .listening })
            try await pool.notify(channel: channel, payload: "ct_1 'quoted' ü")
            try await pool.notify(channel: "other", payload: "")
            let first = try #require(await collector.waitFor(after: listening, isNotification(channel: channel, payload: "ct_1 'quoted' ü")))
            #expect(await collector.waitFor(after: first, isNotification(channel: "other", payload: "")) != nil)
        }
    }

    /// Consumers cancelled while notifications keep arriving: the listener closes its connection from a
    /// cancellation handler while the I/O thread hands notifications over. With the handler called under the
    /// connection's lock the two once waited for each other for good (the suite then hung).
    @Test func consumersCancelledWhileNotificationsArriveStopCleanly() async throws {
        try await TestDatabase.withSchema(maxConnections: 2) { pool, configuration in
            let channel = "chan_\(UUID().uuidString.prefix(6))"
            let notifier = notifyingWithoutPause(pool, channel: channel)
            defer { notifier.cancel() }
            for round in 0..<30 {
                let consumer = Task {
                    var count = 0
                    for await event in PGListener(configuration: configuration).events(channels: [channel]) {
                        if case .notification = event { count += 1 }
                    }
                    return count
                }
                try await Task.sleep(for: .milliseconds(round.isMultiple(of: 2) ? 30 : 5))
                consumer.cancel()
                _ = await consumer.value
            }
            let collector = EventCollector(PGListener(configuration: configuration).events(channels: [channel]))
            #expect(await collector.waitFor(isNotification(channel: channel, payload: "busy")) != nil)
        }
    }

    /// With notifications arriving all the time, some come in the same read as LISTEN's answer; they still
    /// follow `.listening`, which tells a consumer it may start.
    /// A listening connection whose server stops answering (its backend stopped with SIGSTOP, as a connection
    /// dropped silently on the way looks from here) is noticed by the probe, closed and made again: `.disconnected`
    /// within about the probe's interval and timeout, then `.listening` once the server answers.
    @Test(.enabled(if: getuid() == 0)) func aListenerWhoseServerStopsAnsweringReconnects() async throws {
        try await TestDatabase.withSchema { pool, configuration in
            let channel = "chan_\(UUID().uuidString.prefix(6))"
            let name = "probe_\(UUID().uuidString.prefix(8))"
            var listenerConfiguration = configuration
            listenerConfiguration.set("application_name", name)
            var listener = PGListener(configuration: listenerConfiguration)
            listener.probeInterval = .milliseconds(300)
            listener.probeTimeout = .milliseconds(700)
            let collector = EventCollector(listener.events(channels: [channel]))
            let listening = try #require(await collector.waitFor { $0 == .listening })
            let pid = try #require(try await pool.query("SELECT pid FROM pg_stat_activity WHERE application_name = \(name)").first).decode(
                Int32.self, at: 0)
            #expect(kill(pid, SIGSTOP) == 0)
            defer { kill(pid, SIGCONT) }
            let dropped = try #require(await collector.waitFor(after: listening, timeout: .seconds(5)) { $0 == .disconnected })
            kill(pid, SIGCONT)
            let again = try #require(await collector.waitFor(after: dropped, timeout: .seconds(10)) { $0 == .listening })
            try await pool.notify(channel: channel, payload: "after")
            #expect(await collector.waitFor(after: again, isNotification(channel: channel, payload: "after")) != nil)
        }
    }

    /// A consumer so far behind that notifications are dropped hears `.disconnected` and `.listening` after them,
    /// as after a reconnect, so that a cache it keeps starts afresh instead of missing the dropped changes.
    @Test func aConsumerThatFellBehindIsToldToStartAfresh() async throws {
        try await TestDatabase.withSchema { pool, configuration in
            let channel = "chan_\(UUID().uuidString.prefix(6))"
            var listener = PGListener(configuration: configuration)
            listener.bufferLimit = 8
            var iterator = listener.events(channels: [channel]).makeAsyncIterator()
            #expect(await iterator.next() == .listening)
            for index in 0..<40 { try await pool.notify(channel: channel, payload: "n\(index)") }
            try await pool.notify(channel: channel, payload: "last")
            var seen: [PGListenerEvent] = []
            while let event = await iterator.next() {
                seen.append(event)
                if case .notification(let note) = event, note.payload == "last" { break }
            }
            let delivered = seen.filter { if case .notification = $0 { true } else { false } }.count
            #expect(delivered < 41, "some were dropped")
            let restart = try #require(seen.firstIndex(of: .disconnected))
            #expect(seen.dropFirst(restart + 1).first == .listening)
        }
    }

    @Test func listeningComesBeforeAnyNotification() async throws {
        try await TestDatabase.withSchema(maxConnections: 2) { pool, configuration in
            let channel = "chan_\(UUID().uuidString.prefix(6))"
            let notifier = notifyingWithoutPause(pool, channel: channel)
            defer { notifier.cancel() }
            for _ in 0..<20 {
                let collector = EventCollector(PGListener(configuration: configuration).events(channels: [channel]))
                let notified = try #require(await collector.waitFor(isNotification(channel: channel, payload: "busy")))
                let events = await collector.events
                #expect(events.first == .listening, "\(events.prefix(notified + 1))")
            }
        }
    }

    @Test func keepsDeliveringAfterTheServerRestarts() async throws {
        try await TestDatabase.withPrivateCluster { cluster in
            var listener = PGListener(configuration: cluster.connectionConfiguration)
            listener.initialBackoff = .milliseconds(50)
            let collector = EventCollector(listener.events(channels: ["changes"]))
            let listening = try #require(await collector.waitFor { $0 == .listening })
            let pool = PGConnectionPool(configuration: PGPoolConfiguration(connection: cluster.connectionConfiguration))
            defer { Task { await pool.shutdown() } }
            try await pool.notify(channel: "changes", payload: "before")
            let before = try #require(await collector.waitFor(after: listening, isNotification(channel: "changes", payload: "before")))

            try await cluster.restart()
            // The listener says it listens again, so a cache knows to start afresh.
            let again = try #require(await collector.waitFor(after: before, timeout: .seconds(10)) { $0 == .listening })
            var sent = false
            for _ in 0..<10 where !sent {
                do {
                    try await pool.notify(channel: "changes", payload: "after")
                    sent = true
                } catch let error as PGError where error.isRetryable {}
            }
            #expect(sent)
            #expect(await collector.waitFor(after: again, isNotification(channel: "changes", payload: "after")) != nil)
        }
    }
}
