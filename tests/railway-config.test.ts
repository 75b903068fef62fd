import { expect } from 'chai';
import { readFileSync } from 'node:fs';

// Keys and values documented in Railway's config-as-code reference (docs.railway.com/reference/config-as-code).
const DOCUMENTED = {
  top: ['$schema', 'build', 'deploy'],
  build: ['builder', 'watchPatterns', 'buildCommand', 'dockerfilePath', 'railpackVersion', 'nixpacksConfigPath', 'nixpacksPlan', 'nixpacksVersion'],
  deploy: [
    'startCommand', 'preDeployCommand', 'numReplicas', 'healthcheckPath', 'healthcheckTimeout', 'restartPolicyType',
    'restartPolicyMaxRetries', 'cronSchedule', 'region', 'sleepApplication', 'runtime', 'overlapSeconds', 'drainingSeconds',
    'multiRegionConfig', 'requiredMountPath',
  ],
  builders: ['RAILPACK', 'DOCKERFILE', 'NIXPACKS'],
  restartPolicies: ['NEVER', 'ON_FAILURE', 'ALWAYS'],
};

interface RailwayConfig {
  $schema: string;
  build: Record<string, unknown>;
  deploy: { startCommand: string; preDeployCommand: string[]; healthcheckPath: string; healthcheckTimeout: number; restartPolicyType: string } & Record<string, unknown>;
}

describe('railway.json', () => {
  const config = JSON.parse(readFileSync('railway.json', 'utf8')) as RailwayConfig;
  const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;

  it("uses only keys and values Railway's reference documents", () => {
    expect(config.$schema).to.equal('https://railway.com/railway.schema.json');
    expect(Object.keys(config).every((k) => DOCUMENTED.top.includes(k)), Object.keys(config).join()).to.equal(true);
    expect(Object.keys(config.build).filter((k) => !DOCUMENTED.build.includes(k))).to.deep.equal([]);
    expect(Object.keys(config.deploy).filter((k) => !DOCUMENTED.deploy.includes(k))).to.deep.equal([]);
    expect(DOCUMENTED.builders).to.include(config.build.builder);
    expect(DOCUMENTED.restartPolicies).to.include(config.deploy.restartPolicyType);
    expect(config.deploy.preDeployCommand).to.be.an('array');
  });

  it('checks /health with a sensible timeout and restarts on failure', () => {
    expect(config.deploy.healthcheckPath).to.equal('/health');
    expect(config.deploy.healthcheckTimeout).to.be.within(10, 300);
    expect(config.deploy.restartPolicyType).to.equal('ON_FAILURE');
  });

  it('builds, migrates and starts the webhook server with scripts package.json has', () => {
    const npmScript = (command: string): string => {
      const match = /^npm run ([\w:-]+)$/.exec(command);
      expect(match, `"${command}" should be an npm script`).to.not.equal(null);
      return match![1]!;
    };
    expect(scripts[npmScript(config.build.buildCommand as string)]).to.equal('tsc -p tsconfig.build.json');
    expect(scripts[npmScript(config.deploy.preDeployCommand[0]!)]).to.equal('node dist/migrate.js');
    // Node's memory flags may come first: the server is the built one all the same.
    expect(scripts[npmScript(config.deploy.startCommand)]).to.match(/^node( --[a-z-]+=\d+)* dist\/webhook\/main\.js$/);
  });
});
