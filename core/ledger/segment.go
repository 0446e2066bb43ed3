package ledger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard/gateway/core/store"
)

const (
	// segMagic starts the segments this version writes (binary payload);
	// segMagicV1 those of earlier versions (JSON payload), still read.
	segMagic       = "SWYLDG2\n"
	segMagicV1     = "SWYLDG1\n"
	segSuffix      = ".seg"
	checkpointName = "checkpoint"
	checkpointLen  = 12
	corruptSuffix  = ".corrupt"
)

// segment describes one segment file. Records first .. first+count-1 are in
// it, in frames ending at byte offset size.
type segment struct {
	first uint64
	count uint64
	size  int64
	path  string
	json  bool // format 1 (segMagicV1): JSON payloads
}

// decode returns the payload decoder of the segment's format.
func (s segment) decode() func([]byte) (store.SpendLog, error) {
	if s.json {
		return decodePayloadV1
	}
	return decodePayload
}

// end returns the index of the segment's last record (first-1 when empty).
func (s segment) end() uint64 { return s.first + s.count - 1 }

func segmentPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", first, segSuffix))
}

// listSegments returns the segment files of dir ordered by first index;
// other files are ignored.
func listSegments(dir string) ([]segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: list outbox %s: %w", dir, err)
	}
	var segs []segment
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil || first == 0 {
			continue
		}
		segs = append(segs, segment{first: first, path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// createSegment creates, syncs and returns an empty segment whose first
// record will have index first.
func createSegment(dir string, first uint64) (segment, *os.File, error) {
	path := segmentPath(dir, first)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return segment{}, nil, fmt.Errorf("ledger: create segment: %w", err)
	}
	fail := func(err error) (segment, *os.File, error) {
		f.Close()
		os.Remove(path)
		return segment{}, nil, fmt.Errorf("ledger: create segment %s: %w", path, err)
	}
	if _, err := f.Write([]byte(segMagic)); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	return segment{first: first, size: int64(len(segMagic)), path: path}, f, nil
}

// syncDir makes the creation or removal of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// errTorn is wrapped by readFrame when the frame at the current position is
// incomplete or damaged.
var errTorn = errors.New("torn or corrupt frame")

// readFrame reads one frame from r into buf (grown as needed) and returns
// the payload. It returns io.EOF at a clean end and an error wrapping errTorn
// when the frame is cut short or fails its checks.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: partial header", errTorn)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[0:4])
	if n == 0 || n > maxPayload {
		return nil, fmt.Errorf("%w: impossible length %d", errTorn, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: payload cut short (%d bytes announced)", errTorn, n)
		}
		return nil, err
	}
	if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(h[4:8]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errTorn)
	}
	return buf, nil
}

// recoverSegment counts the valid records of the segment at s.path and
// truncates a torn tail. A file too short to hold the magic gets count 0 (it
// is removed by the caller); a file with a foreign magic is renamed to
// *.corrupt and also reported with count 0.
func recoverSegment(s segment, log *slog.Logger) (segment, error) {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return s, fmt.Errorf("ledger: open segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return s, fmt.Errorf("ledger: stat segment: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic := make([]byte, len(segMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			log.Warn("ledger: removing a segment whose creation was interrupted", "segment", s.path, "bytes", info.Size())
			return s, nil
		}
		return s, fmt.Errorf("ledger: read segment %s: %w", s.path, err)
	}
	s.json = string(magic) == segMagicV1
	if string(magic) != segMagic && !s.json {
		bad := s.path + corruptSuffix
		log.Error("ledger: segment has an unknown format; set aside, its records are not delivered",
			"segment", s.path, "renamed_to", bad)
		if err := os.Rename(s.path, bad); err != nil {
			return s, fmt.Errorf("ledger: set aside segment %s: %w", s.path, err)
		}
		s.path = bad
		return s, nil
	}
	off := int64(len(segMagic))
	var buf []byte
	for {
		p, err := readFrame(br, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTorn) {
			log.Warn("ledger: truncating a torn tail of the outbox (interrupted write)", "segment", s.path,
				"offset", off, "dropped_bytes", info.Size()-off, "reason", err.Error(), "records_kept", s.count)
			if err := f.Truncate(off); err != nil {
				return s, fmt.Errorf("ledger: truncate segment %s: %w", s.path, err)
			}
			if err := f.Sync(); err != nil {
				return s, fmt.Errorf("ledger: sync segment %s: %w", s.path, err)
			}
			break
		}
		if err != nil {
			return s, fmt.Errorf("ledger: read segment %s: %w", s.path, err)
		}
		buf = p
		off += int64(frameHeaderLen + len(p))
		s.count++
	}
	s.size = off
	return s, nil
}

// checkpoint is the persisted index of the last delivered record.
type checkpoint struct {
	f *os.File
}

// openCheckpoint opens (creating if needed) the checkpoint of dir and returns
// the last delivered index. A damaged checkpoint reads as 0 with a warning.
func openCheckpoint(dir string, log *slog.Logger) (*checkpoint, uint64, error) {
	path := filepath.Join(dir, checkpointName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: open checkpoint: %w", err)
	}
	var b [checkpointLen + 1]byte
	n, err := io.ReadFull(f, b[:])
	switch {
	case err == nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
	default:
		f.Close()
		return nil, 0, fmt.Errorf("ledger: read checkpoint: %w", err)
	}
	if n == 0 {
		return &checkpoint{f: f}, 0, syncDir(dir)
	}
	if n != checkpointLen || crc32.Checksum(b[:8], castagnoli) != binary.BigEndian.Uint32(b[8:12]) {
		log.Warn("ledger: checkpoint is damaged; every record in the outbox is delivered again (the store ignores duplicates)",
			"path", path, "bytes", n)
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("ledger: reset checkpoint: %w", err)
		}
		return &checkpoint{f: f}, 0, nil
	}
	return &checkpoint{f: f}, binary.BigEndian.Uint64(b[:8]), nil
}

// store persists index as the last delivered record.
func (c *checkpoint) store(index uint64) error {
	var b [checkpointLen]byte
	binary.BigEndian.PutUint64(b[:8], index)
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	if _, err := c.f.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("ledger: write checkpoint: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("ledger: sync checkpoint: %w", err)
	}
	return nil
}
