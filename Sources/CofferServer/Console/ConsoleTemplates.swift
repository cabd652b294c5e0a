import Foundation
import Hummingbird
import Mustache
import NIOCore

/// The console's Mustache templates and its two static files, loaded once from CofferServer's resources
/// (`Resources/console`): no build step, nothing fetched from elsewhere.
struct ConsoleTemplates: Sendable {
    /// A static file with its content type.
    struct Asset: Sendable {
        var bytes: ByteBuffer
        var contentType: String
    }

    private let library: MustacheLibrary
    private let assets: [String: Asset]

    /// The one copy, loaded on first use (a `static let` is initialized once, thread-safely).
    static let shared = ConsoleTemplates()

    /// Loads every `*.mustache` template and the assets. Synchronous, because the application is wired
    /// synchronously; a file that is missing or does not parse is left out, so its page fails (the console tests
    /// render every page).
    init() {
        MustacheContentTypes.register(AttributeSafeHTML(), named: AttributeSafeHTML.name)
        var library = MustacheLibrary()
        var assets: [String: Asset] = [:]
        if let directory = Bundle.module.url(forResource: "console", withExtension: nil),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        {
            for name in names {
                let url = directory.appendingPathComponent(name)
                guard let data = try? Data(contentsOf: url) else { continue }
                if name.hasSuffix(".mustache") {
                    try? library.register(AttributeSafeHTML.pragma + String(decoding: data, as: UTF8.self), named: String(name.dropLast(".mustache".count)))
                } else if let type = Self.contentTypes[url.pathExtension] {
                    assets[name] = Asset(bytes: ByteBuffer(bytes: data), contentType: type)
                }
            }
        }
        self.library = library
        self.assets = assets
    }

    private static let contentTypes = ["css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"]

    /// The HTML of `template` over `context` (HTML-escaped unless a template says `{{{…}}}`); nil when the
    /// template is unknown.
    func render(_ template: String, _ context: [String: Any]) -> String? {
        self.library.render(context, withTemplate: template)
    }

    func asset(_ name: String) -> Asset? { self.assets[name] }
}

/// HTML escaping that is also safe inside quoted attributes: swift-mustache's own HTML escaping leaves `"` and
/// `'` alone, and the console puts values (a login name typed back, data attributes) inside attributes.
struct AttributeSafeHTML: MustacheContentType {
    static let name = "COFFER_CONSOLE_HTML"
    /// Put before every template, partials included (a partial does not inherit its parent's content type).
    static let pragma = "{{% CONTENT_TYPE: \(name) }}"

    func escapeText(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
