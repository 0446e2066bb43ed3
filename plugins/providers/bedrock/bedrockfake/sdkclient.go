package bedrockfake

import (
	"bytes"
	"io"
	"net/http"
)

// SDKHTTPClient is the HTTP client to give the official AWS SDK's clients (aws.Config.HTTPClient) in tests that
// point them at a fake. It sends every request with its body read into memory first and leaves the SDK's own
// body alone.
//
// Why: the SDK (smithy-go's transport) wraps a request body in a reader that, once closed, answers WriteTo with
// io.EOF, and closes it as soon as the response arrives. net/http flushes the headers of a body it does not
// know to be in memory, writes the body, and only then reads it once more to check for extra bytes. A fast
// local server answers in between; the late read returns that io.EOF, net/http takes it for a failed write and
// closes the connection under the response, and the client's stream fails with "use of closed network
// connection". A body net/http knows to be in memory is written with the headers, read to its end before the
// server can answer, and never closed by the SDK.
func SDKHTTPClient() *http.Client {
	return &http.Client{Transport: bufferedBody{base: http.DefaultTransport.(*http.Transport).Clone()}}
}

type bufferedBody struct{ base http.RoundTripper }

func (t bufferedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.base.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	if cerr := r.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return t.base.RoundTrip(out)
}
