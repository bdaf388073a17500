// Validates custom resources against their CRDs' own OpenAPI schemas, as the kubernetes-models packages ship
// them (generated from each project's CRDs, with a JSON Schema validator): KEDA's ScaledObject and
// TriggerAuthentication, the Prometheus Operator's ServiceMonitor.
// Usage: node k8s_models_validate.mjs < resources.json (a JSON array of manifests); prints a JSON array with,
// per manifest, its kind, name, whether a model knew it, and the validation error if any.
import { readFileSync } from "node:fs";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const MODELS = {
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

const report = JSON.parse(readFileSync(0, "utf8")).map((manifest) => {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  const entry = { kind: manifest.kind, name: manifest.metadata?.name, known: Boolean(Model), error: null };
  if (Model) {
    try {
      new Model(manifest).validate();
    } catch (error) {
      entry.error = String(error.message ?? error);
    }
  }
  return entry;
});
process.stdout.write(JSON.stringify(report));
