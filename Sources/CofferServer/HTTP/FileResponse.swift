import CofferCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Streams a blob as an HTTP response, with `Content-Length` and single-range `Range` support, in
/// fixed-size chunks so that memory stays flat whatever the file size. Reads run on the blob store's
/// I/O threads, never on the cooperative pool.
enum FileResponse {
    static let chunkSize = 256 * 1024

    /// - Parameter rangeHeader: `bytes=a-b`, `bytes=a-` or `bytes=-n`; other forms (several ranges) get the whole file.
    static func make(reader: any BlobReader, rangeHeader: String?, fileName: String) throws -> Response {
        let size = reader.size
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.acceptRanges] = "bytes"
        headers[.contentDisposition] = "attachment; filename=\"\(fileName)\""
        var status = HTTPResponse.Status.ok
        var range: ClosedRange<Int64> = 0...max(0, size - 1)
        if let rangeHeader, let requested = Self.parse(rangeHeader, size: size) {
            guard let satisfiable = requested else {
                reader.close()
                headers[.contentRange] = "bytes */\(size)"
                return Response(status: .rangeNotSatisfiable, headers: headers)
            }
            range = satisfiable
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
        }
        let length = size == 0 ? 0 : range.upperBound - range.lowerBound + 1
        headers[.contentLength] = String(length)
        let start = range.lowerBound
        let end = start + length
        let body = ResponseBody(contentLength: Int(length)) { writer in
            defer { reader.close() }
            var offset = start
            while offset < end {
                let chunk = try await reader.read(at: offset, upTo: Int(min(Int64(Self.chunkSize), end - offset)))
                guard chunk.readableBytes > 0 else { break }
                offset += Int64(chunk.readableBytes)
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// nil: no usable Range header (serve everything); `.some(nil)`: a range outside the file (416).
    private static func parse(_ header: String, size: Int64) -> ClosedRange<Int64>?? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard spec.count == 2 else { return nil }
        let first = Int64(spec[0].trimmingCharacters(in: .whitespaces))
        let last = Int64(spec[1].trimmingCharacters(in: .whitespaces))
        switch (first, last) {
        case (let a?, let b?):
            guard a <= b else { return nil }
            return a < size ? .some(a...min(b, size - 1)) : .some(nil)
        case (let a?, nil):
            return a < size ? .some(a...(size - 1)) : .some(nil)
        case (nil, let n?):
            guard n > 0, size > 0 else { return .some(nil) }
            return .some(max(0, size - n)...(size - 1))
        default:
            return nil
        }
    }
}
