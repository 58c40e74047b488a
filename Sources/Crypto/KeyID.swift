/// Rules for keyring key ids, which are also key file names and travel inside every stored value.
enum KeyID {
    /// Ids are at most this many bytes (they are stored, length-prefixed, in every value).
    static let maxLength = 64

    /// True for 1–64 characters of `[A-Za-z0-9._-]` not starting with a dot.
    static func isValid(_ id: some Collection<UInt8>) -> Bool {
        guard let first = id.first, id.count <= maxLength, first != UInt8(ascii: ".") else { return false }
        return id.allSatisfy(isAllowed)
    }

    static func isValid(_ id: String) -> Bool { isValid(Array(id.utf8)) }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// Natural order: digit runs compare as numbers, so "k10" sorts after "k9" and "2026-11" after "2026-2".
    static func naturallyPrecedes(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        var i = 0
        var j = 0
        while i < left.count && j < right.count {
            if isDigit(left[i]) && isDigit(right[j]) {
                let leftRun = digitRun(left, from: i)
                let rightRun = digitRun(right, from: j)
                let leftDigits = left[leftRun].drop { $0 == UInt8(ascii: "0") }
                let rightDigits = right[rightRun].drop { $0 == UInt8(ascii: "0") }
                if leftDigits.count != rightDigits.count { return leftDigits.count < rightDigits.count }
                if !leftDigits.elementsEqual(rightDigits) { return leftDigits.lexicographicallyPrecedes(rightDigits) }
                i = leftRun.upperBound
                j = rightRun.upperBound
            } else {
                if left[i] != right[j] { return left[i] < right[j] }
                i += 1
                j += 1
            }
        }
        if (left.count - i) != (right.count - j) { return (left.count - i) < (right.count - j) }
        return lhs < rhs  // equal by value ("k01" vs "k1"): fall back to a total order
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private static func digitRun(_ bytes: [UInt8], from start: Int) -> Range<Int> {
        var end = start
        while end < bytes.count && isDigit(bytes[end]) { end += 1 }
        return start..<end
    }
}
