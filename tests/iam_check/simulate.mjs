// Runs @cloud-copilot/iam-simulate over a batch of simulations: a JSON array of Simulation objects
// on stdin, a JSON array of summaries (one per simulation, same order) on stdout.
//
// Usage: node simulate.mjs <engine dir>   (the directory whose node_modules holds the engine)
//
// Each summary is what evaluate.py needs to name a decision, nothing more, so thousands of
// results stay small: the overall result, the engine's validation errors, the denying and granting
// statements (getDenialReasons / getGrantReasons), each policy layer's own result, whether a KMS key
// policy delegates to the account, and the "near misses": Allow statements about the action that
// did not apply, with the part (resource, principal, condition) that failed.
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'

const engineDir = process.argv[2]
if (!engineDir) {
  process.stderr.write('usage: node simulate.mjs <engine dir>\n')
  process.exit(2)
}
// The engine lives in build/iam-simulate/node_modules, not beside this file: resolve it from there.
const require = createRequire(join(resolve(engineDir), 'package.json'))
const { runSimulation, getDenialReasons, getGrantReasons } = require('@cloud-copilot/iam-simulate')

const LAYERS = {
  identity: 'identityAnalysis',
  resource: 'resourceAnalysis',
  pb: 'permissionBoundaryAnalysis'
}

function asList(value) {
  if (value === undefined || value === null) return []
  return Array.isArray(value) ? value : [value]
}

function statementLabel(statement) {
  return { sid: statement.sid() ?? null, index: statement.index() }
}

// Why a statement that names the action did not apply: each failing part, in words.
function failedParts(analysis) {
  const explain = analysis.explain
  const parts = []
  if (!explain.resourceMatch) {
    const patterns = [...asList(explain.resources), ...asList(explain.notResources)]
    parts.push(`resource: ${patterns.map((r) => r.resource).join(', ') || '(none)'}`)
  }
  if (explain.principalMatch === 'NoMatch') {
    const principals = [...asList(explain.principals), ...asList(explain.notPrincipals)]
    const names = principals.map((p) => p.principal).join(', ')
    parts.push(explain.noPrincipalElement ? 'principal: no Principal element' : `principal: ${names}`)
  }
  if (!explain.conditionMatch) {
    for (const condition of asList(explain.conditions)) {
      if (condition.matches) continue
      const wanted = asList(condition.values).map((v) => v.value)
      const why = condition.failedBecauseMissing ? ' (key absent from the request)' : ''
      parts.push(`condition: ${condition.operator} ${condition.conditionKeyValue} ${JSON.stringify(wanted)}${why}`)
    }
  }
  return parts
}

function nearMisses(requestAnalysis) {
  const misses = []
  for (const [layer, field] of Object.entries(LAYERS)) {
    const layerAnalysis = requestAnalysis[field]
    if (!layerAnalysis) continue
    for (const statement of layerAnalysis.unmatchedStatements ?? []) {
      // A Deny that did not apply explains nothing; an Allow about the action that did not is the reason.
      if (!statement.actionMatch || !statement.statement.isAllow()) continue
      misses.push({
        layer,
        policy: statement.policyId ?? null,
        effect: statement.statement.effect(),
        ...statementLabel(statement.statement),
        failed: failedParts(statement)
      })
    }
  }
  return misses
}

function summarize(requestAnalysis, ignoredContextKeys) {
  const layers = {}
  for (const [layer, field] of Object.entries(LAYERS)) {
    layers[layer] = requestAnalysis[field]?.result ?? null
  }
  const resourceAllows = requestAnalysis.resourceAnalysis?.allowStatements ?? []
  return {
    result: requestAnalysis.result,
    sameAccount: requestAnalysis.sameAccount,
    blockedBy: requestAnalysis.blockedBy ?? [],
    layers,
    // A KMS key policy must name the account (its root) for identity policies to count at all.
    accountTrust: resourceAllows.some((s) => s.principalMatch === 'AccountLevelMatch'),
    denials: getDenialReasons(requestAnalysis),
    grants: getGrantReasons(requestAnalysis),
    nearMisses: requestAnalysis.result === 'Allowed' ? [] : nearMisses(requestAnalysis),
    ignoredContextKeys: ignoredContextKeys ?? []
  }
}

async function simulateOne(simulation) {
  let response
  try {
    response = await runSimulation(simulation, { simulationMode: 'Strict' })
  } catch (error) {
    return { result: 'Error', errors: { message: String(error?.stack ?? error) } }
  }
  if (response.resultType === 'error') {
    return { result: 'Error', errors: response.errors }
  }
  if (response.resultType === 'single') {
    const summary = summarize(response.result.analysis, response.result.ignoredContextKeys)
    return { ...summary, result: response.overallResult }
  }
  // A resource with a wildcard: one simulation per matching policy pattern. Report the first one
  // that reached the overall result; grants are the union over the allowed patterns.
  const results = response.results
  const representative = results.find((r) => r.analysis.result === response.overallResult) ?? results[0]
  if (!representative) {
    return {
      result: response.overallResult,
      sameAccount: null,
      blockedBy: [],
      layers: { identity: null, resource: null, pb: null },
      accountTrust: false,
      denials: [],
      grants: [],
      nearMisses: [],
      ignoredContextKeys: [],
      note: 'no policy names a resource that matches the requested pattern'
    }
  }
  const summary = summarize(representative.analysis, representative.ignoredContextKeys)
  summary.grants = results
    .filter((r) => r.analysis.result === 'Allowed')
    .flatMap((r) => getGrantReasons(r.analysis))
  return { ...summary, result: response.overallResult }
}

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

const simulations = JSON.parse(await readStdin())
const summaries = []
for (const simulation of simulations) {
  summaries.push(await simulateOne(simulation))
}
process.stdout.write(JSON.stringify(summaries))
