public import ServiceLifecycle
import ServiceLifecycleTestKit

/// Runs `services` while `body` runs, then shuts them down gracefully and waits for them: what a test or a
/// benchmark needs of a service group, under ServiceLifecycleTestKit's graceful-shutdown trigger. A service that
/// fails first fails the whole; `body`'s error wins over the services'.
public func whileRunning<Value>(_ services: [any Service], _ body: () async throws -> Value) async throws -> Value {
    try await testGracefulShutdown { trigger in
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for service in services { tasks.addTask { try await service.run() } }
            let result: Result<Value, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            trigger.triggerGracefulShutdown()
            switch result {
            case .success(let value):
                try await tasks.waitForAll()
                return value
            case .failure(let error):
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}
