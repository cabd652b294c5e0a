import NIOCore

/// Appends bytes to memory reserved beforehand, without the per-call capacity and exclusivity checks of
/// `ByteBuffer` writes: a `RESTORE` command is a dozen small pieces, and a restore writes millions of them.
struct RawBytesWriter {
    private let base: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    private(set) var count = 0

    init(_ base: UnsafeMutableRawBufferPointer) { self.base = base }

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        self.base[self.count] = value
        self.count += 1
    }

    @inline(__always)
    mutating func bytes(_ source: UnsafeRawBufferPointer) {
        guard let address = source.baseAddress, source.count > 0 else { return }
        (self.base.baseAddress! + self.count).copyMemory(from: address, byteCount: source.count)
        self.count += source.count
    }

    @inline(__always)
    mutating func bytes(_ source: ByteBuffer) {
        source.withUnsafeReadableBytes { self.bytes($0) }
    }

    @inline(__always)
    mutating func text(_ source: StaticString) {
        self.bytes(UnsafeRawBufferPointer(start: source.utf8Start, count: source.utf8CodeUnitCount))
    }

    /// `value` in decimal ASCII (at most 20 digits and a sign).
    mutating func decimal<Integer: FixedWidthInteger>(_ value: Integer) {
        var magnitude = UInt64(value.magnitude)
        if value < 0 { self.byte(UInt8(ascii: "-")) }
        let start = self.count
        repeat {
            self.byte(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        var low = start
        var high = self.count - 1
        while low < high {
            self.base.swapAt(low, high)
            low += 1
            high -= 1
        }
    }

    /// `UInt16` or `UInt64` little-endian.
    @inline(__always)
    mutating func littleEndian<Integer: FixedWidthInteger>(_ value: Integer) {
        self.base.storeBytes(of: value.littleEndian, toByteOffset: self.count, as: Integer.self)
        self.count += MemoryLayout<Integer>.size
    }

    /// The bytes written from `offset` on (to checksum what was just written).
    func written(from offset: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self.base[offset..<self.count])
    }

    /// RESP: `$<length>\r\n`.
    @inline(__always)
    mutating func bulkHeader(length: Int) {
        self.byte(UInt8(ascii: "$"))
        self.decimal(length)
        self.text("\r\n")
    }

    /// RESP: an integer as a bulk string.
    mutating func bulkDecimal<Integer: FixedWidthInteger>(_ value: Integer) {
        self.bulkHeader(length: ByteBuffer.decimalLength(value))
        self.decimal(value)
        self.text("\r\n")
    }
}
