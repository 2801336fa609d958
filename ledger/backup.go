package ledger

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// backupMagic opens every backup file, so restore refuses anything else
// before handing bytes to Badger.
const backupMagic = "ctimesh-ledger-backup 1\n"

// maxBackupHeader bounds the JSON header line.
const maxBackupHeader = 4096

// BackupInfo is the header of a backup file.
type BackupInfo struct {
	Format  string    `json:"format"`
	Schema  uint32    `json:"schema"`
	Created time.Time `json:"created"`
	// Entries and Objects are the store's counts when the backup began;
	// appends during an online backup may or may not be in it.
	Entries uint64 `json:"entries"`
	Objects uint64 `json:"objects"`
}

// Backup writes a consistent snapshot of the whole store to w while it
// keeps serving: Badger streams every key at one read timestamp, so an
// entry and its indexes are in the backup together or not at all. The file
// is a header line, a JSON line with BackupInfo, then Badger's backup
// stream.
func (s *Store) Backup(w io.Writer) (BackupInfo, error) {
	if err := s.acquire(); err != nil {
		return BackupInfo{}, err
	}
	defer s.release()
	st, err := s.Stats()
	if err != nil {
		return BackupInfo{}, err
	}
	info := BackupInfo{Format: "badger-v4", Schema: SchemaVersion, Created: s.now().UTC(),
		Entries: st.Entries, Objects: st.Objects}
	hdr, err := json.Marshal(info)
	if err != nil {
		return BackupInfo{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(backupMagic); err != nil {
		return BackupInfo{}, fmt.Errorf("write backup: %w", err)
	}
	bw.Write(hdr)
	bw.WriteByte('\n')
	if _, err := s.db.Backup(bw, 0); err != nil {
		return BackupInfo{}, fmt.Errorf("write backup: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return BackupInfo{}, fmt.Errorf("write backup: %w", err)
	}
	return info, nil
}

// Restore loads a backup made by Backup into a new store at opts.Dir, which
// must not exist or be empty, and returns the restored store's counts. A
// backup of a newer schema is refused; an older one is migrated on open.
func Restore(opts Options, r io.Reader) (BackupInfo, Stats, error) {
	if err := opts.Validate(); err != nil {
		return BackupInfo{}, Stats{}, err
	}
	if !opts.InMemory {
		if ents, err := os.ReadDir(opts.Dir); err == nil && len(ents) > 0 {
			return BackupInfo{}, Stats{}, fmt.Errorf("%w: restore into %q: directory is not empty", ErrInvalid, opts.Dir)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return BackupInfo{}, Stats{}, fmt.Errorf("restore into %q: %w", opts.Dir, err)
		}
	}
	br := bufio.NewReaderSize(r, 1<<20)
	info, err := readBackupHeader(br)
	if err != nil {
		return BackupInfo{}, Stats{}, err
	}
	if info.Schema > SchemaVersion {
		return info, Stats{}, fmt.Errorf("%w: backup has schema %d, this program reads up to %d", ErrNewerSchema, info.Schema, SchemaVersion)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := badger.Open(opts.badger(log))
	if err != nil {
		return info, Stats{}, fmt.Errorf("open badger in %q: %w", opts.Dir, err)
	}
	if err := db.Load(br, 256); err != nil {
		db.Close()
		return info, Stats{}, fmt.Errorf("%w: load backup: %w", ErrCorrupt, err)
	}
	if err := db.Close(); err != nil {
		return info, Stats{}, fmt.Errorf("close restored store: %w", err)
	}
	s, err := Open(opts)
	if err != nil {
		return info, Stats{}, fmt.Errorf("open restored store: %w", err)
	}
	defer s.Close()
	st, err := s.Stats()
	return info, st, err
}

// ReadBackupInfo reads the header of a backup file without restoring it.
func ReadBackupInfo(r io.Reader) (BackupInfo, error) {
	return readBackupHeader(bufio.NewReader(r))
}

func readBackupHeader(br *bufio.Reader) (BackupInfo, error) {
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return BackupInfo{}, fmt.Errorf("%w: not a ctimesh ledger backup", ErrInvalid)
	}
	line, err := br.ReadSlice('\n')
	if err != nil || len(line) > maxBackupHeader {
		return BackupInfo{}, fmt.Errorf("%w: backup header unreadable", ErrInvalid)
	}
	var info BackupInfo
	if err := json.Unmarshal(line, &info); err != nil {
		return BackupInfo{}, fmt.Errorf("%w: backup header: %w", ErrInvalid, err)
	}
	if info.Format != "badger-v4" || info.Schema == 0 {
		return BackupInfo{}, fmt.Errorf("%w: backup format %q schema %d", ErrInvalid, info.Format, info.Schema)
	}
	return info, nil
}
