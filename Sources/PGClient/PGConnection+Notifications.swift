import CLibPQ
import NIOConcurrencyHelpers

// LISTEN/NOTIFY: the messages libpq has read, handed to the listener's handler on the I/O loop's thread.
extension PGConnection {
    /// Routes NOTIFY messages arriving on this connection to `handler` (called on the I/O loop's thread).
    func setNotificationHandler(_ handler: (@Sendable (PGNotification) -> Void)?) {
        lock.withLock { notificationHandler = handler }
    }

    /// The notifications libpq has read (lock held).
    func takeNotifications() -> [PGNotification] {
        var notifications: [PGNotification] = []
        while let notify = PQnotifies(handle) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            let pid = notify.pointee.be_pid
            PQfreemem(notify)
            notifications.append(PGNotification(channel: channel, payload: payload, backendPID: pid))
        }
        return notifications
    }
}

/// A message sent with NOTIFY.
public struct PGNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    /// The server process that sent it.
    public var backendPID: Int32
}
