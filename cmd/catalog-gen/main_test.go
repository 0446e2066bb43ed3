package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/gateway/core/catalog"
)

var update = flag.Bool("update", false, "rewrite testdata/catalog.golden.json")

func TestGolden(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/prices.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := convert(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := render(f)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/catalog.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./cmd/catalog-gen -run TestGolden -update):\n%s", golden, got)
	}
	again, _ := render(f)
	if !bytes.Equal(got, again) {
		t.Error("render is not deterministic")
	}

	// The output is a catalogue the reader accepts, and it means what the source says.
	c, err := catalog.Load(got)
	if err != nil {
		t.Fatal(err)
	}
	info, ok := c.Lookup("openai", "gpt-tiny")
	if !ok || info.InputCostPerToken != 1.8000000000000002e-07 || info.OutputCostPerToken != 1e-08 {
		t.Errorf("gpt-tiny: %+v", info)
	}
	info, ok = c.Lookup("huggingface", "together/org/model")
	if !ok || info.InputCostPerToken != 9.5e-07 || info.OutputCostPerToken != 1.9e-06 {
		t.Errorf("hf: %+v", info)
	}
	info, ok = c.Lookup("openai", "gpt-4o-audio")
	if !ok || info.InputCostPerRequest != 0.0015 || info.CacheReadInputAudioTokenCost != 2.5e-06 {
		t.Errorf("gpt-audio: %+v", info)
	}
	info, ok = c.Lookup("azure", "claude-test-1") // via Azure's fallback to Anthropic
	if !ok || info.MaxInputTokens != 1000000 || len(info.Schedule) != 2 {
		t.Errorf("claude-test: %+v", info)
	}
	if r := info.Schedule[0]; len(r.Tiers) != 2 || r.Tiers[0].AboveInputTokens != 100000 {
		t.Errorf("tiers not sorted by threshold: %+v", r.Tiers)
	}
}

func TestPerUnitIsExact(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		price string
		per   int64
		want  float64
	}{
		{"2.5", 1_000_000, 2.5e-06},
		{"1.9", 1_000_000, 1.9e-06},
		{"0.95", 1_000_000, 9.5e-07},
		{"0.269", 1_000_000, 2.69e-07},
		{"1e-2", 1_000_000, 1e-08},
		{"1.5", 1000, 0.0015},
		{"0", 1_000_000, 0},
	} {
		got, err := perUnit(json.Number(tt.price), tt.per)
		if err != nil || got != tt.want {
			t.Errorf("perUnit(%s, %d) = %v, %v, want %v", tt.price, tt.per, got, err, tt.want)
		}
	}
	// Float division would not do: these are the cases above that it gets wrong.
	price, million := 1.9, 1e6
	if price/million == 1.9e-06 {
		t.Error("1.9/1e6 no longer shows float division's error; pick another case")
	}
	for _, bad := range []string{"-1", "x"} {
		if _, err := perUnit(json.Number(bad), 1); err == nil {
			t.Errorf("perUnit(%s): no error", bad)
		}
	}
}

// Anything the generator cannot map stops it with an error naming it.
func TestConvertRejects(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/prices.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct{ from, to, want string }{
		"provider id":   {`"id": "deepseek"`, `"id": "newcloud"`, `"newcloud" has no Switchyard name`},
		"price key":     {`"input_mtok": 0.135`, `"input_video_mtok": 0.135`, `"input_video_mtok"`},
		"model key":     {`"price_comments": "Off-peak discount."`, `"max_tokens": 5`, `unknown key "max_tokens"`},
		"provider key":  {`"api_pattern": "deepseek"`, `"api_pattern": "deepseek", "region": "cn"`, `unknown key "region"`},
		"explicit zero": {`"cache_read_mtok": 0.3`, `"cache_read_mtok": 0`, `explicit zero`},
		"regex":         {`"^deepseek-\\w+$"`, `"(?<=deepseek)"`, `regex`},
		"operator":      {`{"ends_with": "-audio"}`, `{"like": "-audio"}`, `unknown operator "like"`},
		"fallback":      {`["openai", "anthropic"]`, `["openai", "nowhere"]`, `"nowhere" does not exist`},
		"constraint":    {`{"start_date": "2026-03-13"}`, `{"start_date": "13/03/2026"}`, `start_date`},
		"window":        {`"end_time": "16:30:00Z"`, `"end_time": "late"`, `time of day`},
		"tier":          {`"start": 100000`, `"begin": 100000`, `unknown field "begin"`},
		"negative":      {`"input_mtok": 0.135`, `"input_mtok": -0.135`, `negative`},
		"duplicate":     {`"id": "gpt-tiny"`, `"id": "gpt-audio"`, `duplicate model id`},
		"no match":      {`"match": {"equals": "free-model"}, `, ``, `no match`},
	} {
		data := strings.Replace(string(src), tt.from, tt.to, 1)
		if data == string(src) {
			t.Fatalf("%s: %q not in testdata/prices.json", name, tt.from)
		}
		if _, err := convert([]byte(data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "catalog.json")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-in", "testdata/prices.json", "-out", out}, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-in", "testdata/prices.json", "-out", "-"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, stdout.Bytes()) {
		t.Error("-out - wrote something else than the file")
	}
	if err := run(nil, &stdout, &stderr); err == nil {
		t.Error("no flags: no error")
	}
	if err := run([]string{"-in", filepath.Join(dir, "missing.json"), "-out", out}, &stdout, &stderr); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing input: %v", err)
	}
	// A failed run leaves the previous output alone.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"id": "newcloud", "models": []}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-in", bad, "-out", out}, &stdout, &stderr); err == nil {
		t.Error("bad input: no error")
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, written) {
		t.Error("a failed run changed the output")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// The committed catalogue is what the generator makes of the reference price list. The reference lives
// outside the repository (/work/shared/reference); without it there is nothing to compare.
func TestEmbeddedCatalogueIsCurrent(t *testing.T) {
	t.Parallel()
	const reference = "../../../shared/reference/prices.json"
	src, err := os.ReadFile(reference)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s not found: cannot check core/catalog/catalog.json against it", reference)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := convert(src)
	if err != nil {
		t.Fatal(err)
	}
	want, err := render(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../core/catalog/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("core/catalog/catalog.json is stale: run `make catalog`")
	}
}
