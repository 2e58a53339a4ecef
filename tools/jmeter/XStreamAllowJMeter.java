/*
 * Starts Debian's JMeter 2.13 (org.apache.jmeter.NewDriver) after allowing JMeter's own
 * classes through XStream's security framework, so that it can load test plans again.
 *
 * THE PROBLEM. JMeter reads .jmx plans with XStream. XStream 1.4.18 and later (Debian 12
 * ships 1.4.20) only deserialise types that are explicitly allowed: out of the box it
 * allows primitives, String, boxed numbers, arrays and a short list of harmless java.*
 * types, and throws ForbiddenClassException for everything else. JMeter 2.13 predates
 * that and never configures XStream's permissions, so with Debian's XStream it rejects the
 * root element of every plan:
 *     ForbiddenClassException: org.apache.jmeter.save.ScriptWrapper
 * JMeter keeps its two XStream instances in private static fields of
 * org.apache.jmeter.save.SaveService (JMXSAVER for plans, JTLSAVER for XML result files)
 * and offers no property or hook to configure them before it loads the plan.
 *
 * WHAT THIS DOES. Nothing is patched on disk and no Debian file is changed; this only
 * affects the JVM that run.sh starts:
 *   1. Loads NewDriver, whose static initialiser builds JMeter's class loader (lib/, lib/ext/).
 *   2. Through that loader, sets JMeter's home and loads bin/jmeter.properties, exactly as
 *      JMeter's own start-up does a moment later (SaveService's static initialiser needs
 *      them to find bin/saveservice.properties), then initialises SaveService.
 *   3. Reads SaveService.JMXSAVER and .JTLSAVER (reflection, read-only) and calls XStream's
 *      public API on each: allowTypesByWildcard("org.apache.jmeter.**", "org.apache.jorphan.**").
 *   4. Calls NewDriver.main(args): from here on it is plain JMeter 2.13. JMeter's start-up
 *      reloads its properties as usual (including -J/-q/user.properties). Only the
 *      properties SaveService reads once, at its initialisation (saveservice_properties,
 *      file_format*), are taken from bin/jmeter.properties alone; we do not change them.
 *
 * WHY IT IS SOUND. XStream's default-deny exists because an XML document that may name any
 * class can chain "gadgets" from the JDK or libraries (java.beans.EventHandler,
 * ProcessBuilder, javax.naming / JNDI, javax.imageio iterators, ...: CVE-2013-7285,
 * CVE-2021-39139..39154 and friends) into code execution while merely being *parsed*. We
 * keep that default-deny and XStream's own default allowlist, and add exactly two package
 * trees: JMeter's own classes (test elements, properties, ScriptWrapper, the test-plan
 * tree) and JOrphan's (HashTree/ListedHashTree, which hold the tree). Those are what a
 * .jmx consists of. No JDK, javax, com.sun, or third-party type is opened, so the known
 * gadget chains stay blocked. This is strictly narrower than what upstream JMeter itself
 * does since 3.x (JMeterUtils.setupXStreamSecurityPolicy grants AnyTypePermission.ANY,
 * i.e. every type). And a JMeter plan is a program by design (a plan may run OS commands
 * or scripts when it RUNS), so the file must be trusted anyway: we load only the plan we
 * ship in this repository, tools/jmeter/chat.jmx. The allowlist protects the parse step;
 * trusting the plan's content is the same trust as running any script from this repo.
 *
 * If XStream still refuses a type (a plan using elements outside these packages), the
 * ForbiddenClassException names it; add it here deliberately rather than allowing ANY.
 */

import java.lang.reflect.Field;
import java.lang.reflect.Method;

import com.thoughtworks.xstream.XStream;

public final class XStreamAllowJMeter {
    /** Type patterns (XStream wildcard syntax: ** spans packages) a plan may contain. */
    static final String[] ALLOWED = {"org.apache.jmeter.**", "org.apache.jorphan.**"};

    private XStreamAllowJMeter() {
    }

    public static void main(String[] args) throws Throwable {
        // 1. NewDriver's static initialiser creates JMeter's DynamicClassLoader.
        Class<?> newDriver = Class.forName("org.apache.jmeter.NewDriver");
        ClassLoader jmeterLoader = (ClassLoader) readStatic(newDriver, "loader");
        String home = (String) newDriver.getMethod("getJMeterDir").invoke(null);
        Thread.currentThread().setContextClassLoader(jmeterLoader);

        // 2. What SaveService's static initialiser needs: JMeter's home and its properties.
        Class<?> utils = Class.forName("org.apache.jmeter.util.JMeterUtils", true, jmeterLoader);
        utils.getMethod("setJMeterHome", String.class).invoke(null, home);
        utils.getMethod("loadJMeterProperties", String.class)
                .invoke(null, home + "/bin/jmeter.properties");
        Class<?> saveService =
                Class.forName("org.apache.jmeter.save.SaveService", true, jmeterLoader);

        // 3. Allow JMeter's own types on both of its XStream instances.
        for (String field : new String[] {"JMXSAVER", "JTLSAVER"}) {
            XStream xstream = (XStream) readStatic(saveService, field);
            xstream.allowTypesByWildcard(ALLOWED);
        }

        // 4. Plain JMeter from here on.
        Method main = newDriver.getMethod("main", String[].class);
        main.invoke(null, (Object) args);
    }

    private static Object readStatic(Class<?> owner, String name) throws ReflectiveOperationException {
        Field f = owner.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(null);
    }
}
