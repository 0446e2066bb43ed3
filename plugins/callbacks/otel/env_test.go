package otel

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

func TestConfigAndEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      map[string]any
		env      map[string]string
		url      string
		headers  map[string]string
		resource map[string]string
		timeout  time.Duration
		capture  bool
	}{
		{name: "defaults", url: "http://localhost:4318/v1/traces", headers: map[string]string{},
			resource: map[string]string{"service.name": "switchyard"}, timeout: 10 * time.Second, capture: true},
		{name: "standard variables",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example:4318/",
				"OTEL_EXPORTER_OTLP_HEADERS":        "api-key=abc%3D%3D , x-team = core,broken",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-team=traces",
				"OTEL_SERVICE_NAME":                 "gw", "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment.name=prod",
				"OTEL_EXPORTER_OTLP_TIMEOUT":                         "2500",
				"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"},
			url: "https://otel.example:4318/v1/traces", headers: map[string]string{"api-key": "abc==", "x-team": "traces"},
			resource: map[string]string{"service.name": "gw", "deployment.environment.name": "prod"},
			timeout:  2500 * time.Millisecond},
		{name: "traces endpoint as is",
			env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom/traces",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "100",
				"OTEL_EXPORTER_OTLP_TIMEOUT": "900"},
			url: "http://c:4318/custom/traces", headers: map[string]string{},
			resource: map[string]string{"service.name": "switchyard"}, timeout: 100 * time.Millisecond, capture: true},
		{name: "LiteLLM's variables, full URL kept",
			env: map[string]string{"OTEL_ENDPOINT": "https://api.honeycomb.io/v1/traces", "OTEL_HEADERS": "x-honeycomb-team=k"},
			url: "https://api.honeycomb.io/v1/traces", headers: map[string]string{"x-honeycomb-team": "k"},
			resource: map[string]string{"service.name": "switchyard"}, timeout: 10 * time.Second, capture: true},
		{name: "config wins",
			cfg: map[string]any{"endpoint": "http://cfg:4318", "headers": map[string]any{"x-team": "cfg"},
				"service_name": "svc", "resource_attributes": map[string]any{"host.name": "h1"}, "timeout_seconds": 1.5,
				"capture_message_content": true},
			env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://env/v1/traces",
				"OTEL_EXPORTER_OTLP_HEADERS": "x-team=env,other=1", "OTEL_SERVICE_NAME": "env",
				"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"},
			url: "http://cfg:4318/v1/traces", headers: map[string]string{"x-team": "cfg", "other": "1"},
			resource: map[string]string{"service.name": "svc", "host.name": "h1"}, timeout: 1500 * time.Millisecond,
			capture: true},
	} {
		c := &Callback{getenv: func(k string) string { return tc.env[k] }}
		if err := c.Provision(context.Background(), sdk.ProvisionContext{Config: tc.cfg}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		res := map[string]string{}
		for _, kv := range c.resource {
			res[kv.Key] = *kv.Value.StringValue
		}
		if c.url != tc.url || !equal(c.headers, tc.headers) || !equal(res, tc.resource) ||
			c.client.Timeout != tc.timeout || c.capture != tc.capture {
			t.Errorf("%s: url %q, headers %v, resource %v, timeout %v, capture %v", tc.name, c.url, c.headers, res,
				c.client.Timeout, c.capture)
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
