package redisopts

import (
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	t.Parallel()
	o, err := Options("x", "redis://u:secret@h:6380/2", "", "", "other", 0)
	if err != nil || o.Addr != "h:6380" || o.Password != "secret" || o.Username != "u" || o.DB != 2 {
		t.Fatalf("URL: %+v, %v", o, err)
	}
	o, err = Options("x", "redis://h:6380", "", "", "apart", 0)
	if err != nil || o.Password != "apart" {
		t.Fatalf("a password given apart fills the URL's gap: %+v, %v", o, err)
	}
	o, err = Options("x", "", "h:1", "", "pw", 3)
	if err != nil || o.Addr != "h:1" || o.Password != "pw" || o.DB != 3 {
		t.Fatalf("address: %+v, %v", o, err)
	}
	for _, bad := range []string{"http://h", "redis://u:hunter2@h:notaport/zz"} {
		_, err := Options("router state", bad, "", "", "hunter2", 0)
		if err == nil || !strings.HasPrefix(err.Error(), "router state: ") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := Options("x", "", "", "", "", 0); err == nil {
		t.Error("no address was accepted")
	}
}
