package alertmanager

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeAgreesWithStdlib: the fast JSON decoder behind Decode accepts
// exactly what encoding/json accepts, with the same result.
func FuzzDecodeAgreesWithStdlib(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body)
		var std Message
		dec := json.NewDecoder(bytesReader(body))
		stdErr := dec.Decode(&std)
		if stdErr == nil && dec.More() {
			stdErr = errMore
		}
		if stdErr == nil {
			stdErr = check(&std)
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("fast: %v, encoding/json: %v", err, stdErr)
		}
		if err == nil && !reflect.DeepEqual(*m, std) {
			t.Fatalf("decoded differently:\nfast %+v\nstd  %+v", *m, std)
		}
	})
}
