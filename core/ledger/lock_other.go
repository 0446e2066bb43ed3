//go:build !unix

package ledger

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates the lock file; without flock the exclusion between ledgers
// sharing a directory is not enforced on this platform.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: open lock file: %w", err)
	}
	return f, nil
}
