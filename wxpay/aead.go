package wxpay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// AEADAlgorithm names the only resource encryption API v3 uses.
const AEADAlgorithm = "AEAD_AES_256_GCM"

func newGCM(apiv3Key, nonce string) (cipher.AEAD, error) {
	if len(apiv3Key) != 32 {
		return nil, fmt.Errorf("apiv3 key is %d bytes, want 32", len(apiv3Key))
	}
	block, err := aes.NewCipher([]byte(apiv3Key))
	if err != nil {
		return nil, err
	}
	// WeChat Pay's nonces are 12 characters; accept any non-empty length
	// rather than failing on a differently sized but well-formed nonce.
	if len(nonce) == 0 {
		return nil, errors.New("empty nonce")
	}
	if len(nonce) == 12 {
		return cipher.NewGCM(block)
	}
	return cipher.NewGCMWithNonceSize(block, len(nonce))
}

// EncryptAEAD encrypts as WeChat Pay does for callbacks and sensitive
// fields: AES-256-GCM keyed with the APIv3 key, the given nonce and
// associated data, result base64(ciphertext‖tag).
func EncryptAEAD(apiv3Key, nonce, associatedData string, plaintext []byte) (string, error) {
	aead, err := newGCM(apiv3Key, nonce)
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	ct := aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return base64.StdEncoding.EncodeToString(ct), nil
}

// DecryptAEAD reverses EncryptAEAD; a wrong key, nonce, associated data or a
// tampered ciphertext is an error.
func DecryptAEAD(apiv3Key, nonce, associatedData, ciphertextB64 string) ([]byte, error) {
	aead, err := newGCM(apiv3Key, nonce)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, fmt.Errorf("decrypt: ciphertext is not base64: %w", err)
	}
	if len(ct) < aead.Overhead() {
		return nil, errors.New("decrypt: ciphertext shorter than the tag")
	}
	pt, err := aead.Open(nil, []byte(nonce), ct, []byte(associatedData))
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return pt, nil
}
