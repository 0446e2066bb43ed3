package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/switchyard/gateway/bench/internal/workload"
	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
)

const (
	awsKeyID      = "AKIAFAKEBENCH0000001"
	awsSecret     = "bench/fake/Secret+0123456789abcdefghij"
	converseModel = "anthropic.claude-3-haiku-20240307-v1:0"
)

// startConverseReplay serves the fake as main does, with Bedrock credentials; it returns the URL and the
// Bedrock fake, to count the requests that reached it.
func startConverseReplay(t *testing.T) (string, *bedrockfake.Server) {
	t.Helper()
	opts := fakeupstream.Options{Key: "sk-up", Answer: workload.Answer(workload.AnswerChars),
		StreamChunks: workload.StreamChunks}
	r := newReplay(fakeupstream.New(opts), fakeupstream.New(opts), opts.Key, 0, 0)
	r.messages = newMessagesReplay(opts.Key, opts.Answer, opts.StreamChunks)
	r.converse = newConverseReplay(bedrockfake.Options{AccessKeyID: awsKeyID, SecretAccessKey: awsSecret},
		opts.Answer, opts.StreamChunks)
	return serveReplay(t, r), r.converse.fake.(*bedrockfake.Server)
}

// bedrockClient is the official SDK's client pointed at url, signing with the given credentials (anonymous
// ones sign nothing) for region, over bedrockfake.SDKHTTPClient (which keeps the SDK from failing its own
// streams against a fast local server).
func bedrockClient(url string, creds aws.CredentialsProvider, region string) *bedrockruntime.Client {
	return bedrockruntime.NewFromConfig(aws.Config{Region: region, Credentials: creds,
		HTTPClient: bedrockfake.SDKHTTPClient()},
		func(o *bedrockruntime.Options) {
			o.BaseEndpoint = aws.String(url)
			o.RetryMaxAttempts = 1
		})
}

func staticCreds(id, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret, "")
}

func converseInput() *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{ModelId: aws.String(converseModel),
		System: []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Be brief."}},
		Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(256), Temperature: aws.Float32(0.2)}}
}

func checkUsage(t *testing.T, what string, u *types.TokenUsage) {
	t.Helper()
	if u == nil || *u.InputTokens+*u.CacheReadInputTokens != providertest.PromptTokens ||
		*u.OutputTokens != providertest.CompletionTokens ||
		*u.TotalTokens != providertest.PromptTokens+providertest.CompletionTokens {
		t.Fatalf("%s: usage %+v", what, u)
	}
}

// The replayed Converse answer carries the benchmark's answer, recorded and replayed alike, and only the first
// request reaches the fake.
func TestConverseReplayAnswer(t *testing.T) {
	t.Parallel()
	url, fake := startConverseReplay(t)
	c := bedrockClient(url, staticCreds(awsKeyID, awsSecret), bedrockfake.DefaultRegion)
	for i := range 3 {
		out, err := c.Converse(context.Background(), converseInput())
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		msg := out.Output.(*types.ConverseOutputMemberMessage).Value
		if len(msg.Content) != 1 || out.StopReason != types.StopReasonEndTurn {
			t.Fatalf("request %d: content %+v, stop %q", i, msg.Content, out.StopReason)
		}
		if text := msg.Content[0].(*types.ContentBlockMemberText).Value; text != workload.Answer(workload.AnswerChars) {
			t.Fatalf("request %d: text %q", i, text)
		}
		checkUsage(t, "converse", out.Usage)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("the fake saw %d requests, want the first alone", n)
	}
}

// The replayed stream is the fake's, with the answer in as many text deltas as the OpenAI fake's chunks, in
// event stream framing the SDK decodes.
func TestConverseReplayStream(t *testing.T) {
	t.Parallel()
	url, fake := startConverseReplay(t)
	c := bedrockClient(url, staticCreds(awsKeyID, awsSecret), bedrockfake.DefaultRegion)
	in := converseInput()
	for i := 0; i < 3; i++ {
		out, err := c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId,
			System: in.System, Messages: in.Messages, InferenceConfig: in.InferenceConfig})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		stream := out.GetStream()
		var text strings.Builder
		var kinds []string
		deltas := 0
		var usage *types.TokenUsage
		for ev := range stream.Events() {
			switch e := ev.(type) {
			case *types.ConverseStreamOutputMemberMessageStart:
				kinds = append(kinds, "start")
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				d, ok := e.Value.Delta.(*types.ContentBlockDeltaMemberText)
				if !ok || *e.Value.ContentBlockIndex != 0 {
					t.Fatalf("request %d: delta %+v", i, e.Value)
				}
				text.WriteString(d.Value)
				deltas++
			case *types.ConverseStreamOutputMemberContentBlockStop:
				kinds = append(kinds, "block stop")
			case *types.ConverseStreamOutputMemberMessageStop:
				if e.Value.StopReason != types.StopReasonEndTurn {
					t.Fatalf("request %d: stop %q", i, e.Value.StopReason)
				}
				kinds = append(kinds, "stop")
			case *types.ConverseStreamOutputMemberMetadata:
				usage = e.Value.Usage
				kinds = append(kinds, "metadata")
			default:
				t.Fatalf("request %d: event %T", i, ev)
			}
		}
		err = stream.Err()
		stream.Close()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if deltas != workload.StreamChunks || text.String() != workload.Answer(workload.AnswerChars) {
			t.Fatalf("request %d: %d deltas, text %q", i, deltas, text.String())
		}
		if strings.Join(kinds, ",") != "start,block stop,stop,metadata" {
			t.Fatalf("request %d: events %v", i, kinds)
		}
		checkUsage(t, "stream", usage)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("the fake saw %d requests, want the first alone", n)
	}
}

// Requests signed wrongly, or not at all, are refused as the fake refuses them, before a shape is recorded and
// after; requests the replay cannot answer (tools) get the fake's own answer.
func TestConverseReplayRefuses(t *testing.T) {
	t.Parallel()
	url, _ := startConverseReplay(t)
	converse := func(creds aws.CredentialsProvider, region string) error {
		_, err := bedrockClient(url, creds, region).Converse(context.Background(), converseInput())
		return err
	}
	refused := func(name string, err error, code string) {
		t.Helper()
		var apiErr interface{ ErrorCode() string }
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
			t.Fatalf("%s: err = %T %v, want %s", name, err, err, code)
		}
	}
	// The first request of the shape has its signature recomputed: a wrong secret is refused, and nothing is
	// recorded.
	refused("wrong secret, first request", converse(staticCreds(awsKeyID, "not-the-secret"), bedrockfake.DefaultRegion),
		"InvalidSignatureException")
	if err := converse(staticCreds(awsKeyID, awsSecret), bedrockfake.DefaultRegion); err != nil {
		t.Fatal(err)
	}
	// Replayed requests must still be signed by the right key, for the right region.
	// The SDK always signs (or sends a bearer token); an unsigned request is sent by hand.
	resp, err := http.Post(url+"/model/"+converseModel+"/converse", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden ||
		!strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "MissingAuthenticationTokenException") {
		t.Fatalf("unsigned: %d %q", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
	}
	refused("another access key", converse(staticCreds("AKIAOTHER", awsSecret), bedrockfake.DefaultRegion),
		"UnrecognizedClientException")
	refused("another region", converse(staticCreds(awsKeyID, awsSecret), "eu-west-1"), "InvalidSignatureException")

	in := converseInput()
	in.ToolConfig = &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name: aws.String("get_weather"), InputSchema: &types.ToolInputSchemaMemberJson{
			Value: document.NewLazyDocument(map[string]any{"type": "object"})}}}}}
	out, err := bedrockClient(url, staticCreds(awsKeyID, awsSecret), bedrockfake.DefaultRegion).
		Converse(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	if _, ok := msg.Content[0].(*types.ContentBlockMemberToolUse); !ok || out.StopReason != types.StopReasonToolUse {
		t.Fatalf("a tools request was not answered by the fake: %+v", msg.Content)
	}
}
