package gossip

import (
	"fmt"

	"github.com/ctimesh/ctimesh/envelope"
)

// checkSealing enforces that sealed feeds carry only ciphertext and key
// packages, and plaintext feeds none: a publisher that gets this wrong (a
// bug, or a node leaking AMBER in clear) is rejected and penalised, and
// its payload is never stored or forwarded.
func checkSealing(e *envelope.Entry) verdict {
	sealed := e.Feed.Sealed()
	switch {
	case e.Kind == envelope.KindKeys:
		if !sealed {
			return reject(ReasonMalformedPayload, fmt.Errorf("keys entry on plaintext feed %s", e.Feed))
		}
		if e.Epoch != 0 {
			return reject(ReasonMalformedPayload, fmt.Errorf("keys entry with epoch %d: key packages are not sealed", e.Epoch))
		}
		if _, err := envelope.DecodeKeyPackage(e.Payload); err != nil {
			return reject(ReasonMalformedPayload, err)
		}
	case e.Kind.Sealable() && sealed && e.Epoch == 0:
		return reject(ReasonMalformedPayload, fmt.Errorf("plaintext %s entry on sealed feed %s", e.Kind, e.Feed))
	case e.Epoch != 0 && (!sealed || !e.Kind.Sealable()):
		return reject(ReasonMalformedPayload, fmt.Errorf("sealed %s entry on feed %s", e.Kind, e.Feed))
	}
	return verdict{}
}
