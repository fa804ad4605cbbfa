export {
  classifyAddress,
  createAddressPolicy,
  isAllowed,
  parseCidr,
  parseCidrList,
  type AddressClass,
  type AddressPolicyOptions,
  type Cidr,
  type RunMode,
} from './address-policy.js';
export {
  createEgressClient,
  type EgressClient,
  type EgressClientDeps,
  type EgressLogger,
  type EgressMethod,
  type EgressPolicy,
  type EgressRequest,
  type EgressResponse,
  type ResolvedAddress,
  type Resolver,
} from './egress-client.js';
export { EgressError, isEgressError, type EgressErrorCode } from './egress-error.js';
