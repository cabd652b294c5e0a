import Hummingbird

extension ResponseBody {
    /// This body, then `done` once it is written or failed: the shape of Hummingbird's own
    /// `withPostWriteClosure`, which is package-internal to Hummingbird.
    func afterWrite(_ done: @escaping @Sendable () async -> Void) -> ResponseBody {
        ResponseBody(contentLength: self.contentLength) { writer in
            do {
                try await self.write(writer)
                await done()
            } catch {
                await done()
                throw error
            }
        }
    }
}
