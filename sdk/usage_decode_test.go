package sdk

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The member-by-member usage reader gives what encoding/json gives, the same error or none, whatever the usage
// object holds.
func TestUsageReaderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	cases := []string{
		`{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}`,
		`{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`,
		`{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":null,"completion_tokens_details":null}`,
		`{"prompt_tokens":null,"completion_tokens":5}`,
		`{"prompt_tokens":-3,"total_tokens":123456789012345678}`,
		`{"prompt_tokens":12.0}`,
		`{"prompt_tokens":1e3}`,
		`{"prompt_tokens":"12"}`,
		`{"prompt_tokens":012}`,
		`{"Prompt_Tokens":7,"completion_tokens":1}`,
		`{"prompt_tokens":7,"PROMPT_TOKENS":8}`,
		`{"prompt\u005ftokens":7}`,
		`{"prompt_tokens":7,"prompt_tokens":9}`,
		`{"prompt_tokens_details":{"Cached_Tokens":5}}`,
		`{"prompt_tokens_details":{"cached_tokens":5,"cache_creation_tokens":2,"text_tokens":3,"image_tokens":0}}`,
		`{"prompt_tokens_details":[]}`,
		`{"completion_tokens_details":"x"}`,
		`{"queue_time":0.02,"prompt_time":0.001,"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}`,
		`{"prompt_tokens":99999999999999999999}`,
		`{}`,
		` { "prompt_tokens" : 4 , "completion_tokens" : 2 } `,
	}
	for _, in := range cases {
		var want Usage
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := DecodeUsage([]byte(in))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, encoding/json's %v", in, err, wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: read %+v, encoding/json %+v", in, *got, want)
		}
	}
}
