// The parts of @kubernetes/client-node that kplat uses, behind one module. The build
// replaces this module's output with one bundled file (`npm run bundle:kube`): the package
// itself is about 970 files, and loading them cost 0.75 s of every command that talks to
// the cluster. Add here what a new command needs.
export {
  AppsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  KubernetesObjectApi,
  Observable,
  PatchStrategy,
  PortForward,
  ServerConfiguration,
  Watch,
  createConfiguration,
} from '@kubernetes/client-node'
export type {
  ApiType,
  Configuration,
  V1ConfigMapList,
  HttpLibrary,
  KubernetesObject,
  RequestContext,
  ResponseContext,
  V1Deployment,
  V1Lease,
  V1Pod,
  V1Status,
} from '@kubernetes/client-node'
