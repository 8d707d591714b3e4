package seed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Checkpoint is where an import of one file got to. It names the file by
// its SHA-256, so that resuming with another file (or the same name with
// new content) is refused rather than skipping its first lines.
type Checkpoint struct {
	SHA256 string   `json:"sha256"`
	Delete bool     `json:"delete,omitempty"`
	Next   Position `json:"next"` // the first line not done
}

// ImportFile imports (or deletes) the users in the file at path. With a
// checkpoint path, it starts where the checkpoint says, saves its progress
// there while it runs and when it stops, and removes it when the whole file
// is done.
func (im *Importer) ImportFile(ctx context.Context, path, checkpoint string) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Report{}, err
	}
	if checkpoint == "" {
		return im.run(ctx, f, Position{Line: 1}, nil, info.Size())
	}
	sum, err := fileHash(f)
	if err != nil {
		return Report{}, err
	}
	cp, err := loadCheckpoint(checkpoint, sum, im.Delete)
	if err != nil {
		return Report{}, err
	}
	var header []byte
	if im.Format == CSV && cp.Next.Offset > 0 {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Report{}, err
		}
		if header, _, _, err = newLines(f, Position{}).read(); err != nil {
			return Report{}, fmt.Errorf("read the CSV header: %w", err)
		}
	}
	if _, err := f.Seek(cp.Next.Offset, io.SeekStart); err != nil {
		return Report{}, err
	}
	save := func(p Position) error {
		cp.Next = p
		return cp.save(checkpoint)
	}
	var saveErr error
	onProgress := im.OnProgress
	withSave := *im
	withSave.OnProgress = func(p Progress) {
		if err := save(p.At); err != nil && saveErr == nil {
			saveErr = err
		}
		if onProgress != nil {
			onProgress(p)
		}
	}
	rep, err := withSave.run(ctx, f, cp.Next, header, info.Size())
	if err != nil {
		return rep, err
	}
	if saveErr != nil {
		return rep, fmt.Errorf("save the checkpoint: %w", saveErr)
	}
	if err := os.Remove(checkpoint); err != nil {
		return rep, fmt.Errorf("remove the checkpoint of a finished import: %w", err)
	}
	return rep, nil
}

func fileHash(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash the input: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loadCheckpoint reads the checkpoint at path, or starts one if there is
// none, and refuses one written for another file or the other mode.
func loadCheckpoint(path, sum string, del bool) (Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Checkpoint{SHA256: sum, Delete: del, Next: Position{Line: 1}}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read the checkpoint: %w", err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("read the checkpoint %s: %w", path, err)
	}
	switch {
	case cp.SHA256 != sum:
		return Checkpoint{}, fmt.Errorf("checkpoint %s belongs to another file (sha256 %.12s…, this file is %.12s…): resume with the file it was written for, or remove it to start over", path, cp.SHA256, sum)
	case cp.Delete != del:
		return Checkpoint{}, fmt.Errorf("checkpoint %s belongs to a run with -delete=%t: resume in that mode, or remove it to start over", path, cp.Delete)
	case cp.Next.Line < 1 || cp.Next.Offset < 0:
		return Checkpoint{}, fmt.Errorf("checkpoint %s names no line", path)
	}
	return cp, nil
}

// save writes the checkpoint atomically: a crash leaves the old one or
// the new one, never half of one.
func (cp Checkpoint) save(path string) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
