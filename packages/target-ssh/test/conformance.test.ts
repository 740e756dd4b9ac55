import { describeTarget } from '@ringmaster/core/testing';
import { expect, it } from 'vitest';
import { buildDeb, type Lab, startLab } from './fixture.js';

let lab: Lab;

describeTarget('ssh', {
  async create() {
    lab = await startLab(3);
    return {
      target: lab.target(),
      packageName: 'rm-conformance',
      artifact: (version) => buildDeb(lab.work, { name: 'rm-conformance', version }),
      cleanup: () => lab.stop(),
    };
  },
  additionalTests(fixture) {
    it('reuses one connection per host across operations', async () => {
      const { target } = fixture();
      const host = target.hosts[0]!.name;
      await target.run(host, ['true']);
      await target.installed(host, 'rm-conformance');
      const before = await target.openConnections();
      await target.run(host, ['true']);
      expect(await target.openConnections()).toBe(before);
    });
  },
});
