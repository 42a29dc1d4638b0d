// Package outfile writes the files a person asked for (reports, exports,
// rejected lines) so that a failure never leaves a truncated file where a
// good one was, and says what went wrong in the words of the path given.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/issuer-dev/issuer/internal/excelcsv"
)

// Write writes path via a temporary file renamed into place. The file is
// readable by its group (excelcsv.FileMode): reports and exports are for
// analysts. Errors name path, never the temporary file; fn's own error is
// returned as it is.
func Write(path string, fn func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".issuer-*")
	if err != nil {
		return Error(path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(excelcsv.FileMode); err != nil {
		tmp.Close()
		return Error(path, err)
	}
	if err := fn(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return Error(path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Error(path, err)
	}
	return nil
}

// Error says what is wrong with the output file path in the words of the
// path given, not of a temporary file beside it.
func Error(path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot write %s: directory %s does not exist", path, dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot write %s: permission denied in %s", path, dir)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("cannot write %s: %w", path, err)
}
