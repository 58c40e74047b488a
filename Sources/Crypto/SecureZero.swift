import CLibCrypto

/// `OPENSSL_cleanse`, which the optimizer cannot drop.
func secureZero(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
    OPENSSL_cleanse(pointer, count)
}
