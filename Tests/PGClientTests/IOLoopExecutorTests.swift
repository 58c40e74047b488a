import Foundation
import PGClient
import Testing

/// The name the kernel knows the calling thread by (what `ps -T` shows).
func currentThreadName() throws -> String {
    try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite struct IOLoopExecutorTests {
    let loops = PGIOLoop.all

    @Test func aTaskPreferringALoopRunsOnItsThread() async throws {
        for (index, loop) in loops.enumerated() {
            let name = try await withTaskExecutorPreference(loop) { try currentThreadName() }
            #expect(name == "pgio\(index)")
        }
    }
}
