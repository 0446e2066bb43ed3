// Package sdk is the public contract between the Switchyard gateway and its plugins.
//
// It holds the unified request and response types (OpenAI's chat completions wire format, which every client
// already speaks), the error type every stage and plugin returns, and the interfaces a plugin implements:
//
//   - a provider, usually as a Translator (pure functions from the unified request to the provider's HTTP request
//     and back; the gateway does the network I/O) or, when it must own its I/O, as a Provider;
//   - a routing strategy (Router);
//   - a success/failure callback (Callback).
//
// First-party plugins register themselves with Register from an init function, exactly as a third party would;
// the gateway finds them through the registry. The package imports nothing of the gateway, so a plugin author
// depends on it alone.
//
// Compatibility: the package follows semantic versioning through Version. Within a major version, exported
// names are not removed or changed; new optional capabilities arrive as new extension interfaces, found by type
// assertion, never as new methods on an existing interface.
package sdk

// Version is the version of this contract.
const Version = "1.0.0"

// ProtocolVersion is the version of the wire protocol spoken between the gateway and out-of-process plugins. It
// changes only when the wire types change incompatibly.
const ProtocolVersion = 1
