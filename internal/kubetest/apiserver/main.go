// Command kube-apiserver is Kubernetes' API server, built from k8s.io/kubernetes
// for opsbot's tests (internal/kubetest). It is a module of its own so
// opsbot's own module does not depend on k8s.io/kubernetes.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
