import NIOCore

/// The inbound stream and outbound writer of a channel that is owned by an object rather than a scope.
///
/// NIO deprecates `NIOAsyncChannel.inbound`/`outbound` in favour of `executeThenClose`, whose point is the
/// guarantee that the channel gets closed. ``RedisConnection`` lives across calls (`connect` … `close`) and
/// gives that guarantee itself: both `close()` and its `deinit` close the channel. Reaching the two
/// properties through this protocol keeps that one, deliberate use out of the build warnings.
protocol LongLivedAsyncChannel<Inbound, Outbound> {
    associatedtype Inbound: Sendable
    associatedtype Outbound: Sendable

    /// The channel's single inbound stream.
    var inbound: NIOAsyncChannelInboundStream<Inbound> { get }
    /// The channel's outbound writer.
    var outbound: NIOAsyncChannelOutboundWriter<Outbound> { get }
}

extension NIOAsyncChannel: LongLivedAsyncChannel {}
