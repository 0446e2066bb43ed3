// Command catalog-gen generates Switchyard's model catalogue, core/catalog/catalog.json, from a copy of the
// pydantic/genai-prices data file (prices.json, MIT licence; /work/shared/reference holds one):
//
//	go run ./cmd/catalog-gen -in path/to/prices.json -out core/catalog/catalog.json
//
// or `make catalog` (PRICES=path/to/prices.json for another copy) or `go generate ./core/catalog`. Paths are
// taken relative to the working directory; -out - writes to standard output. The output is deterministic
// (the same input gives the same bytes) and is written atomically, so a failed run leaves the old file.
//
// What it converts:
//
//   - Providers keep the source's order and get Switchyard (LiteLLM) provider names: aws → bedrock,
//     google → vertex_ai and gemini, azure → azure and azure_ai, fireworks → fireworks_ai,
//     together → together_ai, x-ai → xai, voyageai → voyage, moonshotai → moonshot, zhipuai → zai,
//     huggingface_<p> → huggingface with the model prefix "<p>/" (or suffix ":<p>"); the others keep their id
//     (see providerNames). Fallback lists (azure → openai, anthropic; google → anthropic) are kept.
//   - Models keep the source's order (a name resolves to the first match) and match clauses (equals,
//     starts_with, ends_with, contains, regex, or, and); context_window becomes max_input_tokens.
//   - Prices per million tokens become LiteLLM's per-token fields (input_mtok → input_cost_per_token,
//     output_mtok → output_cost_per_token, cache_read_mtok → cache_read_input_token_cost, cache_write_mtok →
//     cache_creation_input_token_cost, input_audio_mtok → input_cost_per_audio_token, output_audio_mtok →
//     output_cost_per_audio_token, cache_audio_read_mtok → cache_read_input_audio_token_cost), and the price
//     per thousand requests input_cost_per_request, by exact decimal division.
//   - Tiered prices become a base rate and "tiers" (above_input_tokens with the rates that replace the base
//     beyond it); dated and time-of-day prices become "price_schedule" after the base prices.
//
// Anything it cannot map (a new provider id, price kind or key) is an error naming it, never dropped.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "catalog-gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("catalog-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "path of the genai-prices prices.json to convert (required)")
	out := fs.String("out", "", "path of the catalogue to write, or - for standard output (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("usage: catalog-gen -in prices.json -out catalog.json")
	}
	src, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	file, err := convert(src)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	b, err := render(file)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(b)
		return err
	}
	return writeAtomic(*out, b)
}

// writeAtomic replaces path with b through a temporary file in the same directory.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".catalog-gen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
