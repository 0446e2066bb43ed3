package lunary

import (
	"context"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestConfigFallsBackToTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     map[string]any
		env     map[string]string
		key     string
		url     string
		wantErr bool
	}{
		{name: "defaults", env: map[string]string{"LUNARY_PUBLIC_KEY": "pk-env"},
			key: "pk-env", url: "https://api.lunary.ai/v1/runs/ingest"},
		{name: "app id alias", env: map[string]string{"LUNARY_APP_ID": "pk-app", "LUNARY_API_URL": "http://lunary.local:3333/"},
			key: "pk-app", url: "http://lunary.local:3333/v1/runs/ingest"},
		{name: "config wins", cfg: map[string]any{"public_key": "pk-cfg", "api_url": "https://lunary.example"},
			env: map[string]string{"LUNARY_PUBLIC_KEY": "pk-env", "LUNARY_API_URL": "http://ignored"},
			key: "pk-cfg", url: "https://lunary.example/v1/runs/ingest"},
		{name: "no key", wantErr: true},
	} {
		c := &Callback{getenv: func(k string) string { return tc.env[k] }}
		err := c.Provision(context.Background(), sdk.ProvisionContext{Config: tc.cfg})
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: Provision accepted a configuration without a key", tc.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.publicKey != tc.key || c.url != tc.url || c.client.Timeout != defaultTimeout {
			t.Errorf("%s: key %q, url %q, timeout %v", tc.name, c.publicKey, c.url, c.client.Timeout)
		}
	}
}
