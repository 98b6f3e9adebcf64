package replica

import (
	"fmt"

	"github.com/benbjohnson/litestream"
	"github.com/benbjohnson/litestream/file"
	"github.com/benbjohnson/litestream/s3"

	"github.com/ledgerd/ledgerd/config"
)

// newClient is Litestream's client for t: a directory, or an S3 bucket
// with Litestream's URL options and, when given, t's key pair (otherwise
// the AWS SDK's chain: AWS_ACCESS_KEY_ID, an instance role).
func newClient(t Target) (litestream.ReplicaClient, error) {
	switch config.ReplicaScheme(t.URL) {
	case config.ReplicaSchemeFile:
		dir, err := config.ReplicaDir(t.URL)
		if err != nil {
			return nil, err
		}
		return file.NewReplicaClient(dir), nil
	case config.ReplicaSchemeS3:
		c, err := litestream.NewReplicaClientFromURL(t.URL)
		if err != nil {
			return nil, err
		}
		sc, ok := c.(*s3.ReplicaClient)
		if !ok {
			return nil, fmt.Errorf("s3 URL gave a %T", c)
		}
		if t.AccessKeyID != "" {
			sc.AccessKeyID, sc.SecretAccessKey = t.AccessKeyID, t.SecretAccessKey.Reveal()
		}
		return sc, nil
	}
	return nil, fmt.Errorf("unsupported replica URL scheme %q", config.ReplicaScheme(t.URL))
}
