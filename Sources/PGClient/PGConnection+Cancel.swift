import CLibPQ
import NIOConcurrencyHelpers
import NIOPosix

// Cancel requests: libpq's PQcancel opens a connection of its own, so it runs on NIO's thread pool.
extension PGConnection {
    /// Asks the server to cancel the statement of `generation`, if it is still running.
    func requestCancel(generation: UInt64, reason: State.CancelReason) {
        let sendNow = lock.withLock { state.cancelRequested(generation: generation, reason: reason) }
        if sendNow { sendCancel() }
    }

    func sendCancel() {
        guard let cancelHandle else { return }
        let request = SendableHandle(pointer: cancelHandle)
        NIOThreadPool.singleton.submit { [self] state in
            guard case .active = state else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(request.pointer, &buffer, Int32(buffer.count))
            _ = self  // keeps the connection, and so the cancel handle, alive until the request is sent
        }
    }
}
