package data

import (
	"fmt"

	"pixelcnn/pixelcnn/fileio"
)

// CIFAR-10 binary record layout: 1 label byte (0..9), then 1024 R, 1024 G and 1024 B bytes,
// each plane 32x32 row-major.
const (
	cifarSide   = 32
	cifarPlane  = cifarSide * cifarSide
	cifarImage  = 3 * cifarPlane
	cifarRecord = 1 + cifarImage
)

// cifarMaxImages bounds the records of one batch file: CIFAR-10 has 60000 images in all (its
// files hold 10000 each), so a file holding more is not one of its batches.
const cifarMaxImages = 60000

// ReadCIFARBatch reads a CIFAR-10 binary batch file (data_batch_N.bin, test_batch.bin) and
// returns its n images as 32x32x3 HWC bytes (pix[((i*32+y)*32+x)*3+c]). Errors name the file.
func ReadCIFARBatch(path string) (n int, pix []uint8, err error) {
	n, pix, _, err = ReadCIFARBatchLabels(path)
	return n, pix, err
}

// ReadCIFARBatchLabels is ReadCIFARBatch that also returns each record's label (0..9).
func ReadCIFARBatchLabels(path string) (n int, pix, labels []uint8, err error) {
	b, err := fileio.ReadFile(path, cifarMaxImages*cifarRecord)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("cifar10: %w", err) // fileio's errors name the file
	}
	return ParseCIFARLabels(b, path)
}

// ParseCIFAR parses the bytes of a CIFAR-10 binary batch, converting each record's planar
// RGB to HWC; name (usually the path) is only used in errors. An empty input, a length that
// is not a multiple of 3073 bytes (a truncated last record) and a label above 9 (not a
// CIFAR-10 file: CIFAR-100's records have two label bytes) are errors.
func ParseCIFAR(data []byte, name string) (n int, pix []uint8, err error) {
	n, pix, _, err = ParseCIFARLabels(data, name)
	return n, pix, err
}

// ParseCIFARLabels is ParseCIFAR that also returns each record's label.
func ParseCIFARLabels(data []byte, name string) (n int, pix, labels []uint8, err error) {
	if len(data) == 0 {
		return 0, nil, nil, fmt.Errorf("cifar10: %s: empty file", name)
	}
	if r := len(data) % cifarRecord; r != 0 {
		return 0, nil, nil, fmt.Errorf("cifar10: %s: record %d: truncated (%d of %d bytes; file length %d is not a multiple of %d)",
			name, len(data)/cifarRecord, r, cifarRecord, len(data), cifarRecord)
	}
	n = len(data) / cifarRecord
	pix = make([]uint8, n*cifarImage)
	labels = make([]uint8, n)
	for i := 0; i < n; i++ {
		rec := data[i*cifarRecord : (i+1)*cifarRecord]
		if rec[0] > 9 {
			return 0, nil, nil, fmt.Errorf("cifar10: %s: record %d: label %d out of range 0..9", name, i, rec[0])
		}
		labels[i] = rec[0]
		r, g, b := rec[1:1+cifarPlane], rec[1+cifarPlane:1+2*cifarPlane], rec[1+2*cifarPlane:]
		out := pix[i*cifarImage : (i+1)*cifarImage]
		for p := 0; p < cifarPlane; p++ {
			out[3*p], out[3*p+1], out[3*p+2] = r[p], g[p], b[p]
		}
	}
	return n, pix, labels, nil
}
