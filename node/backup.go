package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/ledger"
)

// ledgerOptions maps the node configuration onto the ledger's options.
func ledgerOptions(cfg Config, log *slog.Logger) ledger.Options {
	lopts := ledger.DefaultOptions(ledgerPath(cfg.DataDir))
	lopts.Logger = log.With("component", "ledger")
	if cfg.Ledger.MemTableMB > 0 {
		lopts.MemTableSize = cfg.Ledger.MemTableMB << 20
	}
	if cfg.Ledger.BlockCacheMB > 0 {
		lopts.BlockCacheSize = cfg.Ledger.BlockCacheMB << 20
	}
	if cfg.Ledger.IndexCacheMB > 0 {
		lopts.IndexCacheSize = cfg.Ledger.IndexCacheMB << 20
	}
	switch {
	case cfg.Ledger.ResidentFileMB > 0:
		lopts.ResidentFileBytes = cfg.Ledger.ResidentFileMB << 20
	case cfg.Ledger.ResidentFileMB < 0:
		lopts.ResidentFileBytes = 0
	}
	return lopts
}

// backupHandler streams an online backup of the running node's ledger. The
// trailer tells the client whether the stream is complete, because the
// status line is sent before the first byte of the snapshot.
type backupHandler struct{ n *Node }

func (h backupHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="ctimesh-ledger.backup"`)
	w.Header().Set("Trailer", adminapi.BackupTrailer)
	w.WriteHeader(http.StatusOK)
	info, err := h.n.store.Backup(w)
	if err != nil {
		h.n.log.Error("online backup failed", "err", err)
		w.Header().Set(adminapi.BackupTrailer, "failed")
		return
	}
	h.n.log.Info("online backup written", "entries", info.Entries, "objects", info.Objects)
	w.Header().Set(adminapi.BackupTrailer, "ok")
}

// BackupOffline writes a backup of the ledger in dataDir while no node
// runs there (the ledger's lock refuses a second opener).
func BackupOffline(dataDir string, w io.Writer, log *slog.Logger) (ledger.BackupInfo, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := LoadConfig(dataDir)
	if err != nil {
		return ledger.BackupInfo{}, err
	}
	s, err := ledger.Open(ledgerOptions(cfg, log))
	if err != nil {
		return ledger.BackupInfo{}, fmt.Errorf("open ledger (is the node running? then it is backed up through its admin api): %w", err)
	}
	defer s.Close()
	return s.Backup(w)
}

// Restore loads a backup into the ledger of dataDir. The node must be
// stopped and its ledger directory absent or empty: restore never merges
// into or overwrites a ledger.
func Restore(dataDir string, r io.Reader, log *slog.Logger) (ledger.BackupInfo, ledger.Stats, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := ledgerPath(dataDir)
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return ledger.BackupInfo{}, ledger.Stats{}, fmt.Errorf("%w: %s holds a ledger; move it away before restoring", ErrExists, dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return ledger.BackupInfo{}, ledger.Stats{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return ledger.BackupInfo{}, ledger.Stats{}, err
	}
	cfg, err := LoadConfig(dataDir)
	if err != nil {
		return ledger.BackupInfo{}, ledger.Stats{}, err
	}
	return ledger.Restore(ledgerOptions(cfg, log), r)
}
