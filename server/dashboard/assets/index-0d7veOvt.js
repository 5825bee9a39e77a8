var e,t,n,r,i,a,o,s,c,l,u,d,f,p,m={},h=[],g=/acit|ex(?:s|g|n|p|$)|rph|grid|ows|mnc|ntw|ine[ch]|zoo|^ord|itera/i,_=Array.isArray;function v(e,t){for(var n in t)e[n]=t[n];return e}function y(e){e&&e.parentNode&&e.parentNode.removeChild(e)}function b(t,n,r){var i,a,o,s={};for(o in n)o==`key`?i=n[o]:o==`ref`?a=n[o]:s[o]=n[o];if(arguments.length>2&&(s.children=arguments.length>3?e.call(arguments,2):r),typeof t==`function`&&t.defaultProps!=null)for(o in t.defaultProps)s[o]===void 0&&(s[o]=t.defaultProps[o]);return x(t,s,i,a,null)}function x(e,r,i,a,o){var s={type:e,props:r,key:i,ref:a,__k:null,__:null,__b:0,__e:null,__c:null,constructor:void 0,__v:o??++n,__i:-1,__u:0};return o==null&&t.vnode!=null&&t.vnode(s),s}function S(e){return e.children}function C(e,t){this.props=e,this.context=t}function w(e,t){if(t==null)return e.__?w(e.__,e.__i+1):null;for(var n;t<e.__k.length;t++)if((n=e.__k[t])!=null&&n.__e!=null)return n.__e;return typeof e.type==`function`?w(e):null}function T(e){if(e.__P&&e.__d){var n=e.__v,r=n.__e,i=[],a=[],o=v({},n);o.__v=n.__v+1,t.vnode&&t.vnode(o),ne(e.__P,o,n,e.__n,e.__P.namespaceURI,32&n.__u?[r]:null,i,r??w(n),!!(32&n.__u),a),o.__v=n.__v,o.__.__k[o.__i]=o,ie(i,o,a),n.__e=n.__=null,o.__e!=r&&E(o)}}function E(e){if((e=e.__)!=null&&e.__c!=null)return e.__e=e.__c.base=null,e.__k.some(function(t){if(t!=null&&t.__e!=null)return e.__e=e.__c.base=t.__e}),E(e)}function D(e){(!e.__d&&(e.__d=!0)&&r.push(e)&&!O.__r++||i!=t.debounceRendering)&&((i=t.debounceRendering)||a)(O)}function O(){try{for(var e,t=1;r.length;)r.length>t&&r.sort(o),e=r.shift(),t=r.length,T(e)}finally{r.length=O.__r=0}}function ee(e,t,n,r,i,a,o,s,c,l,u){var d,f,p,g,_,v,y=r&&r.__k||h,b=t.length;for(c=k(n,t,y,c,b),d=0;d<b;d++)(p=n.__k[d])!=null&&(f=p.__i!=-1&&y[p.__i]||m,p.__i=d,v=ne(e,p,f,i,a,o,s,c,l,u),g=p.__e,p.ref&&f.ref!=p.ref&&(f.ref&&se(f.ref,null,p),u.push(p.ref,p.__c||g,p)),_==null&&g!=null&&(_=g),4&p.__u?(c=A(p,c,e),f.__e&&(f.__e=null)):typeof p.type==`function`&&v!==void 0?c=v:g&&(c=g.nextSibling),p.__u&=-7);return n.__e=_,c}function k(e,t,n,r,i){var a,o,s,c,l,u=n.length,d=u,f=0;for(e.__k=Array(i),a=0;a<i;a++)(o=t[a])!=null&&typeof o!=`boolean`&&typeof o!=`function`?(typeof o==`string`||typeof o==`number`||typeof o==`bigint`||o.constructor==String?o=e.__k[a]=x(null,o,null,null,null):_(o)?o=e.__k[a]=x(S,{children:o},null,null,null):o.constructor===void 0&&o.__b>0?o=e.__k[a]=x(o.type,o.props,o.key,o.ref?o.ref:null,o.__v):e.__k[a]=o,c=a+f,o.__=e,o.__b=e.__b+1,s=null,(l=o.__i=te(o,n,c,d))!=-1&&(d--,(s=n[l])&&(s.__u|=2)),s==null||s.__v==null?(l==-1&&(i>u?f--:i<u&&f++),typeof o.type!=`function`&&(o.__u|=4)):l!=c&&(l==c-1?f--:l==c+1?f++:(l>c?f--:f++,o.__u|=4))):e.__k[a]=null;if(d)for(a=0;a<u;a++)(s=n[a])!=null&&!(2&s.__u)&&(s.__e==r&&(r=w(s)),ce(s,s));return r}function A(e,t,n){var r,i;if(typeof e.type==`function`){for(r=e.__k,i=0;r&&i<r.length;i++)r[i]&&(r[i].__=e,t=A(r[i],t,n));return t}e.__e!=t&&(t&&e.type&&!t.parentNode&&(t=w(e)),t=n.insertBefore(e.__e,t||null));do t&&=t.nextSibling;while(t!=null&&t.nodeType==8);return t}function te(e,t,n,r){var i,a,o,s=e.key,c=e.type,l=t[n],u=l!=null&&!(2&l.__u);if(l===null&&s==null||u&&s==l.key&&c==l.type)return n;if(r>+!!u){for(i=n-1,a=n+1;i>=0||a<t.length;)if((l=t[o=i>=0?i--:a++])!=null&&!(2&l.__u)&&s==l.key&&c==l.type)return o}return-1}function j(e,t,n){t[0]==`-`?e.setProperty(t,n??``):e[t]=n==null?``:typeof n!=`number`||g.test(t)?n:n+`px`}function M(e,t,n,r,i){var a,o;n:if(t==`style`){if(typeof n==`string`)e.style.cssText=n;else{if(typeof r==`string`&&(e.style.cssText=r=``),r)for(t in r)n&&t in n||j(e.style,t,``);if(n)for(t in n)r&&n[t]==r[t]||j(e.style,t,n[t])}}else if(t[0]==`o`&&t[1]==`n`)a=t!=(t=t.replace(u,`$1`)),o=t.toLowerCase(),t=o in e||t==`onFocusOut`||t==`onFocusIn`?o.slice(2):t.slice(2),e.l||={},e.l[t+a]=n,n?r?n[l]=r[l]:(n[l]=d,e.addEventListener(t,a?p:f,a)):e.removeEventListener(t,a?p:f,a);else{if(i==`http://www.w3.org/2000/svg`)t=t.replace(/xlink(H|:h)/,`h`).replace(/sName$/,`s`);else if(t!=`width`&&t!=`height`&&t!=`href`&&t!=`list`&&t!=`form`&&t!=`tabIndex`&&t!=`download`&&t!=`rowSpan`&&t!=`colSpan`&&t!=`role`&&t!=`popover`&&t in e)try{e[t]=n??``;break n}catch{}typeof n==`function`||(n==null||!1===n&&t[4]!=`-`?e.removeAttribute(t):e.setAttribute(t,t==`popover`&&n==1?``:n))}}function N(e){return function(n){if(this.l){var r=this.l[n.type+e];if(n[c]==null)n[c]=d++;else if(n[c]<r[l])return;return r(t.event?t.event(n):n)}}}function ne(e,n,r,i,a,o,s,c,l,u){var d,f,p,m,g,b,x,T,E,D,O,k,A,te,j,M,N=n.type;if(n.constructor!==void 0)return null;128&r.__u&&(l=!!(32&r.__u),o=[c=n.__e=r.__e]),(d=t.__b)&&d(n);n:if(typeof N==`function`){f=s.length;try{if(E=n.props,D=N.prototype&&N.prototype.render,O=(d=N.contextType)&&i[d.__c],k=d?O?O.props.value:d.__:i,r.__c?T=(p=n.__c=r.__c).__=p.__E:(D?n.__c=p=new N(E,k):(n.__c=p=new C(E,k),p.constructor=N,p.render=le),O&&O.sub(p),p.state||(p.state={}),p.__n=i,m=p.__d=!0,p.__h=[],p._sb=[]),D&&p.__s==null&&(p.__s=p.state),D&&N.getDerivedStateFromProps!=null&&(p.__s==p.state&&(p.__s=v({},p.__s)),v(p.__s,N.getDerivedStateFromProps(E,p.__s))),g=p.props,b=p.state,p.__v=n,m)D&&N.getDerivedStateFromProps==null&&p.componentWillMount!=null&&p.componentWillMount(),D&&p.componentDidMount!=null&&p.__h.push(p.componentDidMount);else{if(D&&N.getDerivedStateFromProps==null&&E!==g&&p.componentWillReceiveProps!=null&&p.componentWillReceiveProps(E,k),n.__v==r.__v||!p.__e&&p.shouldComponentUpdate!=null&&!1===p.shouldComponentUpdate(E,p.__s,k)){n.__v!=r.__v&&(p.props=E,p.state=p.__s,p.__d=!1),n.__e=r.__e,n.__k=r.__k,n.__k.some(function(e){e&&(e.__=n)}),h.push.apply(p.__h,p._sb),p._sb=[],p.__h.length&&s.push(p),c=w(r);break n}p.componentWillUpdate!=null&&p.componentWillUpdate(E,p.__s,k),D&&p.componentDidUpdate!=null&&p.__h.push(function(){p.componentDidUpdate(g,b,x)})}if(p.context=k,p.props=E,p.__P=e,p.__e=!1,A=t.__r,te=0,D)p.state=p.__s,p.__d=!1,A&&A(n),d=p.render(p.props,p.state,p.context),h.push.apply(p.__h,p._sb),p._sb=[];else do p.__d=!1,A&&A(n),d=p.render(p.props,p.state,p.context),p.state=p.__s;while(p.__d&&++te<25);p.state=p.__s,p.getChildContext!=null&&(i=v(v({},i),p.getChildContext())),D&&!m&&p.getSnapshotBeforeUpdate!=null&&(x=p.getSnapshotBeforeUpdate(g,b)),j=d!=null&&d.type===S&&d.key==null?ae(d.props.children):d,c=ee(e,_(j)?j:[j],n,r,i,a,o,s,c,l,u),p.base=n.__e,n.__u&=-161,p.__h.length&&s.push(p),T&&(p.__E=p.__=null)}catch(e){if(s.length=f,n.__v=null,l||o!=null){if(e.then){for(n.__u|=l?160:128;c&&c.nodeType==8&&c.nextSibling;)c=c.nextSibling;o!=null&&(o[o.indexOf(c)]=null),n.__e=c}else if(o!=null)for(M=o.length;M--;)y(o[M])}else n.__e=r.__e;n.__k??=r.__k||[],e.then||re(n),t.__e(e,n,r)}}else o==null&&n.__v==r.__v?(n.__k=r.__k,n.__e=r.__e):c=n.__e=oe(r.__e,n,r,i,a,o,s,l,u);return(d=t.diffed)&&d(n),128&n.__u?void 0:c}function re(e){e&&(e.__c&&(e.__c.__e=!0),e.__k&&e.__k.some(re))}function ie(e,n,r){for(var i=0;i<r.length;i++)se(r[i],r[++i],r[++i]);t.__c&&t.__c(n,e),e.some(function(n){try{e=n.__h,n.__h=[],e.some(function(e){e.call(n)})}catch(e){t.__e(e,n.__v)}})}function ae(e){return typeof e!=`object`||!e||e.__b>0?e:_(e)?e.map(ae):e.constructor===void 0?v({},e):null}function oe(n,r,i,a,o,s,c,l,u){var d,f,p,h,g,v,b,x=i.props||m,S=r.props,C=r.type;if(C==`svg`?o=`http://www.w3.org/2000/svg`:C==`math`?o=`http://www.w3.org/1998/Math/MathML`:o||=`http://www.w3.org/1999/xhtml`,s!=null){for(d=0;d<s.length;d++)if((g=s[d])&&`setAttribute`in g==!!C&&(C?g.localName==C:g.nodeType==3)){n=g,s[d]=null;break}}if(n==null){if(C==null)return document.createTextNode(S);n=document.createElementNS(o,C,S.is&&S),l&&=(t.__m&&t.__m(r,s),!1),s=null}if(C==null)x===S||l&&n.data==S||(n.data=S);else{if(s=C==`textarea`&&S.defaultValue!=null?null:s&&e.call(n.childNodes),!l&&s!=null)for(x={},d=0;d<n.attributes.length;d++)x[(g=n.attributes[d]).name]=g.value;for(d in x)g=x[d],d==`dangerouslySetInnerHTML`?p=g:d==`children`||d in S||d==`value`&&`defaultValue`in S||d==`checked`&&`defaultChecked`in S||M(n,d,null,g,o);for(d in S)g=S[d],d==`children`?h=g:d==`dangerouslySetInnerHTML`?f=g:d==`value`?v=g:d==`checked`?b=g:l&&typeof g!=`function`||x[d]===g||M(n,d,g,x[d],o);if(f)l||p&&(f.__html==p.__html||f.__html==n.innerHTML)||(n.innerHTML=f.__html),r.__k=[];else if(p&&(n.innerHTML=``),ee(r.type==`template`?n.content:n,_(h)?h:[h],r,i,a,C==`foreignObject`?`http://www.w3.org/1999/xhtml`:o,s,c,s?s[0]:i.__k&&w(i,0),l,u),s!=null)for(d=s.length;d--;)y(s[d]);l&&C!=`textarea`||(d=`value`,C==`progress`&&v==null?n.removeAttribute(`value`):v!=null&&(v!==n[d]||C==`progress`&&!v||C==`option`&&v!=x[d])&&M(n,d,v,x[d],o),d=`checked`,b!=null&&b!=n[d]&&M(n,d,b,x[d],o))}return n}function se(e,n,r){try{if(typeof e==`function`){var i=typeof e.__u==`function`;i&&e.__u(),i&&n==null||(e.__u=e(n))}else e.current=n}catch(e){t.__e(e,r)}}function ce(e,n,r){var i,a;if(t.unmount&&t.unmount(e),(i=e.ref)&&(i.current&&i.current!=e.__e||se(i,null,n)),(i=e.__c)!=null){if(i.componentWillUnmount)try{i.componentWillUnmount()}catch(e){t.__e(e,n)}i.base=i.__P=i.__n=null}if(i=e.__k)for(a=0;a<i.length;a++)i[a]&&ce(i[a],n,r||typeof e.type!=`function`);r||y(e.__e),e.__c=e.__=e.__e=void 0}function le(e,t,n){return this.constructor(e,n)}function ue(n,r,i){var a,o,s,c;r==document&&(r=document.documentElement),t.__&&t.__(n,r),o=(a=typeof i==`function`)?null:i&&i.__k||r.__k,s=[],c=[],ne(r,n=(!a&&i||r).__k=b(S,null,[n]),o||m,m,r.namespaceURI,!a&&i?[i]:o?null:r.firstChild?e.call(r.childNodes):null,s,!a&&i?i:o?o.__e:r.firstChild,a,c),ie(s,n,c),n.props.children=null}e=h.slice,t={__e:function(e,t,n,r){for(var i,a,o;t=t.__;)if((i=t.__c)&&!i.__)try{if((a=i.constructor)&&a.getDerivedStateFromError!=null&&(i.setState(a.getDerivedStateFromError(e)),o=i.__d),i.componentDidCatch!=null&&(i.componentDidCatch(e,r||{}),o=i.__d),o)return i.__E=i}catch(t){e=t}throw e}},n=0,C.prototype.setState=function(e,t){var n=this.__s!=null&&this.__s!=this.state?this.__s:this.__s=v({},this.state);typeof e==`function`&&(e=e(v({},n),this.props)),e&&v(n,e),e!=null&&this.__v&&(t&&this._sb.push(t),D(this))},C.prototype.forceUpdate=function(e){this.__v&&(this.__e=!0,e&&this.__h.push(e),D(this))},C.prototype.render=S,r=[],a=typeof Promise==`function`?Promise.prototype.then.bind(Promise.resolve()):setTimeout,o=function(e,t){return e.__v.__b-t.__v.__b},O.__r=0,s=Math.random().toString(8),c=`__d`+s,l=`__a`+s,u=/(PointerCapture)$|Capture$/i,d=0,f=N(!1),p=N(!0);var P,F,de,fe,pe=0,me=[],I=t,he=I.__b,ge=I.__r,_e=I.diffed,ve=I.__c,ye=I.unmount,be=I.__;function xe(e,t){I.__h&&I.__h(F,e,pe||t),pe=0;var n=F.__H||(F.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function L(e){return pe=1,Se(Ae,e)}function Se(e,t,n){var r=xe(P++,2);if(r.t=e,!r.__c&&(r.__=[n?n(t):Ae(void 0,t),function(e){var t=r.__N?r.__N[0]:r.__[0],n=r.t(t,e);t!==n&&(r.__N=[n,r.__[1]],r.__c.setState({}))}],r.__c=F,!F.__f)){var i=function(e,t,n){if(!r.__c.__H)return!0;var i=!1,o=r.__c.props!==e;if(r.__c.__H.__.some(function(e){if(e.__N){i=!0;var t=e.__[0];e.__=e.__N,e.__N=void 0,t!==e.__[0]&&(o=!0)}}),a){var s=a.call(this,e,t,n);return i?s||o:s}return!i||o};F.__f=!0;var a=F.shouldComponentUpdate,o=F.componentWillUpdate;F.componentWillUpdate=function(e,t,n){if(this.__e){var r=a;a=void 0,i(e,t,n),a=r}o&&o.call(this,e,t,n)},F.shouldComponentUpdate=i}return r.__N||r.__}function R(e,t){var n=xe(P++,3);!I.__s&&ke(n.__H,t)&&(n.__=e,n.u=t,F.__H.__h.push(n))}function z(e){return pe=5,Ce(function(){return{current:e}},[])}function Ce(e,t){var n=xe(P++,7);return ke(n.__H,t)&&(n.__=e(),n.__H=t,n.__h=e),n.__}function we(){for(var e;e=me.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(De),t.__h.some(Oe),t.__h=[]}catch(n){t.__h=[],I.__e(n,e.__v)}}}I.__b=function(e){F=null,he&&he(e)},I.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),be&&be(e,t)},I.__r=function(e){ge&&ge(e),P=0;var t=(F=e.__c).__H;t&&(de===F?(t.__h=[],F.__h=[],t.__.some(function(e){e.__N&&(e.__=e.__N),e.u=e.__N=void 0})):(t.__h.some(De),t.__h.some(Oe),t.__h=[],P=0)),de=F},I.diffed=function(e){_e&&_e(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&(me.push(t)!==1&&fe===I.requestAnimationFrame||((fe=I.requestAnimationFrame)||Ee)(we)),t.__H.__.some(function(e){e.u&&=(e.__H=e.u,void 0)})),de=F=null},I.__c=function(e,t){t.some(function(e){try{e.__h.some(De),e.__h=e.__h.filter(function(e){return!e.__||Oe(e)})}catch(n){t.some(function(e){e.__h&&=[]}),t=[],I.__e(n,e.__v)}}),ve&&ve(e,t)},I.unmount=function(e){ye&&ye(e);var t,n=e.__c;n&&n.__H&&(n.__H.__.some(function(e){try{De(e)}catch(e){t=e}}),n.__H=void 0,t&&I.__e(t,n.__v))};var Te=typeof requestAnimationFrame==`function`;function Ee(e){var t,n=function(){clearTimeout(r),Te&&cancelAnimationFrame(t),setTimeout(e)},r=setTimeout(n,35);Te&&(t=requestAnimationFrame(n))}function De(e){var t=F,n=e.__c;typeof n==`function`&&(e.__c=void 0,n()),F=t}function Oe(e){var t=F;e.__c=e.__(),F=t}function ke(e,t){return!e||e.length!==t.length||t.some(function(t,n){return t!==e[n]})}function Ae(e,t){return typeof t==`function`?t(e):t}var B=class extends String{__apiType;value;__meta__;constructor(e,t){super(e),this.value=e,this.__meta__=t}toString(){return this.value}};new B(`
    fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}
    `,{fragmentName:`AuthFailedFields`}),new B(`
    fragment AuthResultFields on AuthResult {
  __typename
  ... on AuthTokens {
    accessToken
    refreshToken
    expiresIn
    tokenType
  }
  ...AuthFailedFields
}
    fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`,{fragmentName:`AuthResultFields`}),new B(`
    fragment NotFoundFields on NotFoundError {
  message
  kind
}
    `,{fragmentName:`NotFoundFields`}),new B(`
    fragment ConflictFields on ConflictError {
  message
  code
}
    `,{fragmentName:`ConflictFields`}),new B(`
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
    `,{fragmentName:`ValidationFailedFields`}),new B(`
    fragment TaskResultFields on TaskResult {
  __typename
  ... on TaskSuccess {
    task {
      id
      status
      assignee
    }
  }
  ...NotFoundFields
  ...ConflictFields
  ...ValidationFailedFields
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`,{fragmentName:`TaskResultFields`}),new B(`
    fragment ExternalTaskFields on ExternalTask {
  id
  topicName
  method
  stepId
  instanceId
  businessKey
  definitionKey
  attempt
  maxAttempts
  idempotencyKey
  status
  workerId
  lockedUntil
}
    `,{fragmentName:`ExternalTaskFields`}),new B(`
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`,{fragmentName:`ExternalTaskResultFields`}),new B(`
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`,{fragmentName:`InstanceResultFields`}),new B(`
    fragment InstanceRow on ProcessInstance {
  id
  businessKey
  status
  currentSteps
  startedAt
  endedAt
  definition {
    id
    key
    name
    version
  }
}
    `,{fragmentName:`InstanceRow`}),new B(`
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}
    `,{fragmentName:`TaskFields`}),new B(`
    fragment TaskPage on TaskConnection {
  edges {
    cursor
    node {
      ...TaskFields
      instance {
        id
        businessKey
        definition {
          id
          key
          name
        }
      }
    }
  }
  pageInfo {
    hasNextPage
    endCursor
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}`,{fragmentName:`TaskPage`});var je=new B(`
    mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    ...AuthResultFields
  }
}
    fragment AuthResultFields on AuthResult {
  __typename
  ... on AuthTokens {
    accessToken
    refreshToken
    expiresIn
    tokenType
  }
  ...AuthFailedFields
}
fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`),Me=new B(`
    mutation RefreshToken($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) {
    ...AuthResultFields
  }
}
    fragment AuthResultFields on AuthResult {
  __typename
  ... on AuthTokens {
    accessToken
    refreshToken
    expiresIn
    tokenType
  }
  ...AuthFailedFields
}
fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`),Ne=new B(`
    mutation Logout($refreshToken: String!) {
  logout(refreshToken: $refreshToken) {
    __typename
    ... on LoggedOut {
      ok
    }
    ...AuthFailedFields
  }
}
    fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`),Pe=new B(`
    query Me {
  me {
    username
    roles
    groups
    permissions
  }
}
    `),Fe=new B(`
    mutation ClaimTask($id: Int!) {
  claimTask(id: $id) {
    ...TaskResultFields
  }
}
    fragment TaskResultFields on TaskResult {
  __typename
  ... on TaskSuccess {
    task {
      id
      status
      assignee
    }
  }
  ...NotFoundFields
  ...ConflictFields
  ...ValidationFailedFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),Ie=new B(`
    mutation UnclaimTask($id: Int!) {
  unclaimTask(id: $id) {
    ...TaskResultFields
  }
}
    fragment TaskResultFields on TaskResult {
  __typename
  ... on TaskSuccess {
    task {
      id
      status
      assignee
    }
  }
  ...NotFoundFields
  ...ConflictFields
  ...ValidationFailedFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),Le=new B(`
    mutation CompleteTask($id: Int!, $variables: JSON) {
  completeTask(id: $id, variables: $variables) {
    __typename
    ... on TaskSuccess {
      task {
        id
        status
        completedAt
        completedBy
      }
    }
    ...ValidationFailedFields
    ...NotFoundFields
    ...ConflictFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),Re=new B(`
    query DashboardInbox($first: Int! = 50, $after: String, $claimableAfter: String) {
  assigned: tasks(filter: {assignedToMe: true}, first: $first, after: $after) {
    ...TaskPage
  }
  claimable: tasks(
    filter: {claimableByMe: true}
    first: $first
    after: $claimableAfter
  ) {
    ...TaskPage
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}
fragment TaskPage on TaskConnection {
  edges {
    cursor
    node {
      ...TaskFields
      instance {
        id
        businessKey
        definition {
          id
          key
          name
        }
      }
    }
  }
  pageInfo {
    hasNextPage
    endCursor
  }
}`),ze=new B(`
    query DefinitionSource($id: Int!) {
  definition(id: $id) {
    id
    key
    name
    version
    revision
    deployedAt
    deployedBy
    definition
  }
}
    `),Be=new B(`
    query DashboardInstances($filter: InstanceFilterInput, $first: Int! = 25, $after: String, $orderBy: InstanceOrder! = STARTED) {
  instances(filter: $filter, first: $first, after: $after, orderBy: $orderBy) {
    edges {
      cursor
      node {
        ...InstanceRow
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment InstanceRow on ProcessInstance {
  id
  businessKey
  status
  currentSteps
  startedAt
  endedAt
  definition {
    id
    key
    name
    version
  }
}`),Ve=new B(`
    subscription DashboardCounters {
  dashboardCounters {
    definitions {
      definitionKey
      active
      completed
      failed
      cancelled
    }
    openTasks
    openIncidents
  }
}
    `),He=new B(`
    query Definitions($key: String, $latestOnly: Boolean! = true) {
  definitions(key: $key, latestOnly: $latestOnly) {
    id
    key
    name
    version
    revision
    deployedAt
    versions {
      id
      version
      revision
      deployedAt
    }
  }
}
    `),Ue=new B(`
    mutation DeployDefinition($definition: JSON!) {
  deployDefinition(definition: $definition) {
    __typename
    ... on DeployDefinitionSuccess {
      created
      definition {
        id
        key
        name
        version
        revision
      }
    }
    ...ValidationFailedFields
    ...NotFoundFields
    ...ConflictFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`);new B(`
    mutation FetchAndLockExternalTasks($workerId: String!, $topics: [ExternalTopicInput!]!, $maxTasks: Int! = 10) {
  fetchAndLockExternalTasks(
    workerId: $workerId
    topics: $topics
    maxTasks: $maxTasks
  ) {
    __typename
    ... on ExternalTaskBatch {
      tasks {
        ...ExternalTaskFields
        variables
      }
    }
    ...ValidationFailedFields
  }
}
    fragment ExternalTaskFields on ExternalTask {
  id
  topicName
  method
  stepId
  instanceId
  businessKey
  definitionKey
  attempt
  maxAttempts
  idempotencyKey
  status
  workerId
  lockedUntil
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}`);var We=new B(`
    query IncidentsPage($filter: IncidentFilter, $first: Int! = 25, $after: String) {
  incidents(filter: $filter, first: $first, after: $after) {
    edges {
      cursor
      node {
        id
        stepId
        error
        message
        status
        createdAt
        resolvedAt
        instance {
          id
          businessKey
          definitionKey
          status
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `),Ge=new B(`
    mutation RetryIncident($id: Int!) {
  retryIncident(id: $id) {
    __typename
    ... on InstanceSuccess {
      instance {
        id
        status
        currentSteps
        incidents {
          id
          status
        }
      }
    }
    ...NotFoundFields
    ...ConflictFields
    ...ValidationFailedFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),Ke=new B(`
    subscription InstanceChanges($filter: InstanceChangeFilter, $after: String) {
  instanceChanges(filter: $filter, after: $after) {
    instanceId
    seq
    cursor
    definitionKey
    businessKey
    status
    updatedAt
    endedAt
  }
}
    `),qe=new B(`
    query InstanceDetail($id: Int!) {
  instance(id: $id) {
    id
    businessKey
    status
    variables
    currentSteps
    startedAt
    startedBy
    endedAt
    definition {
      id
      key
      name
      version
      revision
      definition
    }
    parent {
      id
      businessKey
    }
    tasks {
      id
      name
      stepId
      status
      assignee
      dueAt
      completedAt
      completedBy
    }
    incidents {
      id
      stepId
      error
      message
      status
      createdAt
      resolvedAt
    }
    history {
      seq
      type
      stepId
      actor
      at
      data
    }
  }
}
    `),Je=new B(`
    subscription InstanceEvents($instanceId: Int!, $afterSeq: Int! = 0) {
  instanceEvents(instanceId: $instanceId, afterSeq: $afterSeq) {
    instanceId
    seq
    id
    type
    stepId
    tokenId
    actor
    at
    data
  }
}
    `);new B(`
    query InstancesPage($filter: InstanceFilterInput, $first: Int! = 20, $after: String) {
  instances(filter: $filter, first: $first, after: $after) {
    edges {
      cursor
      node {
        ...InstanceRow
        tasks {
          id
          status
        }
        incidents {
          id
          status
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment InstanceRow on ProcessInstance {
  id
  businessKey
  status
  currentSteps
  startedAt
  endedAt
  definition {
    id
    key
    name
    version
  }
}`),new B(`
    query MyTasks($first: Int! = 20, $after: String, $claimableAfter: String) {
  assigned: tasks(filter: {assignedToMe: true}, first: $first, after: $after) {
    ...TaskPage
  }
  claimable: tasks(
    filter: {claimableByMe: true}
    first: $first
    after: $claimableAfter
  ) {
    ...TaskPage
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}
fragment TaskPage on TaskConnection {
  edges {
    cursor
    node {
      ...TaskFields
      instance {
        id
        businessKey
        definition {
          id
          key
          name
        }
      }
    }
  }
  pageInfo {
    hasNextPage
    endCursor
  }
}`),new B(`
    mutation CompleteExternalTask($id: Int!, $workerId: String!, $variables: JSON) {
  completeExternalTask(id: $id, workerId: $workerId, variables: $variables) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),new B(`
    mutation FailExternalTask($id: Int!, $workerId: String!, $message: String!, $retryable: Boolean! = true) {
  failExternalTask(
    id: $id
    workerId: $workerId
    message: $message
    retryable: $retryable
  ) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),new B(`
    mutation ReportExternalTaskError($id: Int!, $workerId: String!, $errorCode: String!, $message: String! = "") {
  reportExternalTaskError(
    id: $id
    workerId: $workerId
    errorCode: $errorCode
    message: $message
  ) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),new B(`
    mutation ExtendExternalTaskLock($id: Int!, $workerId: String!, $lockDurationMs: Int!) {
  extendExternalTaskLock(
    id: $id
    workerId: $workerId
    lockDurationMs: $lockDurationMs
  ) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`);var Ye=new B(`
    mutation StartInstance($definitionId: Int, $key: String, $version: String, $businessKey: String, $variables: JSON) {
  startInstance(
    definitionId: $definitionId
    key: $key
    version: $version
    businessKey: $businessKey
    variables: $variables
  ) {
    __typename
    ... on InstanceSuccess {
      instance {
        id
        status
        businessKey
        currentSteps
      }
    }
    ...ValidationFailedFields
    ...NotFoundFields
    ...ConflictFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`);new B(`
    mutation CancelInstance($id: Int!, $reason: String! = "") {
  cancelInstance(id: $id, reason: $reason) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),new B(`
    mutation SuspendInstance($id: Int!) {
  suspendInstance(id: $id) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`),new B(`
    mutation ResumeInstance($id: Int!) {
  resumeInstance(id: $id) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`);var Xe=new B(`
    mutation SetVariables($id: Int!, $variables: JSON!) {
  setVariables(id: $id, variables: $variables) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`);new B(`
    mutation SendMessage($name: String!, $correlationKey: String, $variables: JSON) {
  sendMessage(name: $name, correlationKey: $correlationKey, variables: $variables) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`);var Ze=new B(`
    subscription TaskChanges {
  taskChanges {
    instanceId
    seq
    id
    name
    stepId
    status
    assignee
    candidateUsers
    candidateGroups
    priority
    dueAt
    createdAt
    completedAt
    completedBy
    visible
  }
}
    `),Qe=new B(`
    query TaskDetail($id: Int!) {
  task(id: $id) {
    ...TaskFields
    form {
      id
      label
      type
      required
      values
      description
    }
    instance {
      id
      businessKey
      variables
    }
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}`),V=class e extends Error{status;errors;data;name=`GraphQLRequestError`;code;constructor(e,t,n,r=null){super(e),this.status=t,this.errors=n,this.data=r;let i=n.find(e=>typeof e.extensions?.code==`string`);this.code=i?.extensions?.code??(t===null?`network`:`http_${t}`)}static of(t,n,r=null){let i=n.map(e=>e.message).join(`; `)||`HTTP ${t??`error`}`;return new e(i,t,n,r)}},$e=class extends Error{failure;name=`ResultError`;code;problems;constructor(e){super(e.message),this.failure=e,this.code=e.code??(e.__typename===`NotFoundError`?`not_found`:`error`),this.problems=e.problems??[]}get typename(){return this.failure.__typename}},et=new Set([`ValidationFailed`,`NotFoundError`,`ConflictError`,`AuthFailed`]);function tt(e){return e.__typename!==void 0&&et.has(e.__typename)}function nt(e,t){if(e.__typename===t)return e;throw tt(e)?new $e(e):new $e({__typename:`ConflictError`,message:`expected ${t}, got ${String(e.__typename)}`,code:`unexpected_result`})}function rt(e,t){return{accessToken:e.accessToken,refreshToken:e.refreshToken,expiresAt:t+e.expiresIn*1e3}}async function it(e,t,n){return rt(nt((await e.anonymous().request(je,{username:t,password:n})).login,`AuthTokens`),Date.now())}async function at(e,t){return rt(nt((await e.anonymous().request(Me,{refreshToken:t})).refreshToken,`AuthTokens`),Date.now())}async function ot(e,t){nt((await e.request(Ne,{refreshToken:t})).logout,`LoggedOut`)}var st=class{http;options;tokens;refreshing=null;margin;constructor(e,t=null,n={}){this.http=e,this.options=n,this.tokens=t,this.margin=n.refreshMarginMs??3e4}get current(){return this.tokens}async login(e,t){return this.set(await it(this.http,e,t))}accessToken=async()=>this.tokens===null?null:Date.now()<this.tokens.expiresAt-this.margin?this.tokens.accessToken:(await this.refresh()).accessToken;refresh=async()=>{if(this.refreshing===null){let e=this.tokens;if(e===null)throw Error(`not logged in`);this.refreshing=at(this.http,e.refreshToken).then(e=>this.set(e)).catch(e=>{throw this.set(null),e}).finally(()=>{this.refreshing=null})}return await this.refreshing};async logout(){let e=this.tokens;try{e!==null&&await ot(this.http,e.refreshToken)}finally{this.set(null)}}set(e){return this.tokens=e,this.options.onTokens?.(e),e}};async function ct(e){return typeof e==`function`?await e():e??null}var lt=class e{options;constructor(e){this.options=e}anonymous(){let{token:t,onUnauthorized:n,...r}=this.options;return new e(r)}async request(e,...t){let[n,r]=t,i=await this.execute(e,n,r);if(i.errors?.length||i.data==null)throw V.of(200,i.errors??[],i.data??null);return i.data}async execute(e,t,n={}){try{return await this.send(e,t,n)}catch(r){if(!(r instanceof V&&r.status===401&&this.options.onUnauthorized!==void 0&&await this.options.onUnauthorized(r)))throw r;return await this.send(e,t,n)}}async send(e,t,n){let r={"Content-Type":`application/json`,Accept:`application/graphql-response+json, application/json;q=0.9`,...this.options.headers},i=await ct(this.options.token);i&&(r.Authorization=`Bearer ${i}`);let a=this.options.fetch??globalThis.fetch,o;try{o=await a(this.options.url,{method:`POST`,headers:r,body:JSON.stringify({query:e.toString(),variables:t??{}}),...n.signal?{signal:n.signal}:{}})}catch(e){throw new V(`request to ${this.options.url} failed: ${String(e)}`,null,[])}let s=null;try{s=await o.json()}catch{s=null}if(!o.ok)throw V.of(o.status,s?.errors??[],s?.data??null);if(s===null)throw V.of(o.status,[{message:`the response is not JSON`,extensions:{code:`bad_response`}}]);return s}};function H(e){return e===null?`null`:Array.isArray(e)?`array`:typeof e}function U(e){return H(e)===`object`}function ut(e){return Array.isArray(e)&&e.length>0&&e.every(e=>`message`in e)}function dt(e,t){return e.length<124?e:t}var W=(e=>(e[e.InternalServerError=4500]=`InternalServerError`,e[e.InternalClientError=4005]=`InternalClientError`,e[e.BadRequest=4400]=`BadRequest`,e[e.BadResponse=4004]=`BadResponse`,e[e.Unauthorized=4401]=`Unauthorized`,e[e.Forbidden=4403]=`Forbidden`,e[e.SubprotocolNotAcceptable=4406]=`SubprotocolNotAcceptable`,e[e.ConnectionInitialisationTimeout=4408]=`ConnectionInitialisationTimeout`,e[e.ConnectionAcknowledgementTimeout=4504]=`ConnectionAcknowledgementTimeout`,e[e.SubscriberAlreadyExists=4409]=`SubscriberAlreadyExists`,e[e.TooManyInitialisationRequests=4429]=`TooManyInitialisationRequests`,e))(W||{}),G=(e=>(e.ConnectionInit=`connection_init`,e.ConnectionAck=`connection_ack`,e.Ping=`ping`,e.Pong=`pong`,e.Subscribe=`subscribe`,e.Next=`next`,e.Error=`error`,e.Complete=`complete`,e))(G||{});function ft(e){if(!U(e))throw Error(`Message is expected to be an object, but got ${H(e)}`);if(!e.type)throw Error(`Message is missing the 'type' property`);if(typeof e.type!=`string`)throw Error(`Message is expects the 'type' property to be a string, but got ${H(e.type)}`);switch(e.type){case`connection_init`:case`connection_ack`:case`ping`:case`pong`:if(e.payload!=null&&!U(e.payload))throw Error(`"${e.type}" message expects the 'payload' property to be an object or nullish or missing, but got "${e.payload}"`);break;case`subscribe`:if(typeof e.id!=`string`)throw Error(`"${e.type}" message expects the 'id' property to be a string, but got ${H(e.id)}`);if(!e.id)throw Error(`"${e.type}" message requires a non-empty 'id' property`);if(!U(e.payload))throw Error(`"${e.type}" message expects the 'payload' property to be an object, but got ${H(e.payload)}`);if(typeof e.payload.query!=`string`)throw Error(`"${e.type}" message payload expects the 'query' property to be a string, but got ${H(e.payload.query)}`);if(e.payload.variables!=null&&!U(e.payload.variables))throw Error(`"${e.type}" message payload expects the 'variables' property to be a an object or nullish or missing, but got ${H(e.payload.variables)}`);if(e.payload.operationName!=null&&H(e.payload.operationName)!==`string`)throw Error(`"${e.type}" message payload expects the 'operationName' property to be a string or nullish or missing, but got ${H(e.payload.operationName)}`);if(e.payload.extensions!=null&&!U(e.payload.extensions))throw Error(`"${e.type}" message payload expects the 'extensions' property to be a an object or nullish or missing, but got ${H(e.payload.extensions)}`);break;case`next`:if(typeof e.id!=`string`)throw Error(`"${e.type}" message expects the 'id' property to be a string, but got ${H(e.id)}`);if(!e.id)throw Error(`"${e.type}" message requires a non-empty 'id' property`);if(!U(e.payload))throw Error(`"${e.type}" message expects the 'payload' property to be an object, but got ${H(e.payload)}`);break;case`error`:if(typeof e.id!=`string`)throw Error(`"${e.type}" message expects the 'id' property to be a string, but got ${H(e.id)}`);if(!e.id)throw Error(`"${e.type}" message requires a non-empty 'id' property`);if(!ut(e.payload))throw Error(`"${e.type}" message expects the 'payload' property to be an array of GraphQL errors, but got ${JSON.stringify(e.payload)}`);break;case`complete`:if(typeof e.id!=`string`)throw Error(`"${e.type}" message expects the 'id' property to be a string, but got ${H(e.id)}`);if(!e.id)throw Error(`"${e.type}" message requires a non-empty 'id' property`);break;default:throw Error(`Invalid message 'type' property "${e.type}"`)}return e}function pt(e,t){return ft(typeof e==`string`?JSON.parse(e,t):e)}function mt(e,t){return ft(e),JSON.stringify(e,t)}function ht(e){let{url:t,connectionParams:n,lazy:r=!0,onNonLazyError:i=console.error,lazyCloseTimeout:a=0,keepAlive:o=0,disablePong:s,connectionAckWaitTimeout:c=0,retryAttempts:l=5,retryWait:u=async function(e){let t=2**e;await new Promise(e=>setTimeout(e,t*1e3+Math.floor(Math.random()*2700+300)))},shouldRetry:d=_t,on:f,webSocketImpl:p,generateID:m=function(){return`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.replace(/[xy]/g,e=>{let t=Math.random()*16|0;return(e==`x`?t:t&3|8).toString(16)})},jsonMessageReplacer:h,jsonMessageReviver:g}=e,_;if(p){if(!yt(p))throw Error(`Invalid WebSocket implementation provided`);_=p}else typeof WebSocket<`u`?_=WebSocket:typeof global<`u`?_=global.WebSocket||global.MozWebSocket:typeof window<`u`&&(_=window.WebSocket||window.MozWebSocket);if(!_)throw Error("WebSocket implementation missing; on Node you can `import WebSocket from 'ws';` and pass `webSocketImpl: WebSocket` to `createClient`");let v=_,y=(()=>{let e=(()=>{let e={};return{on(t,n){return e[t]=n,()=>{delete e[t]}},emit(t){`id`in t&&e[t.id]?.(t)}}})(),t={connecting:f?.connecting?[f.connecting]:[],opened:f?.opened?[f.opened]:[],connected:f?.connected?[f.connected]:[],ping:f?.ping?[f.ping]:[],pong:f?.pong?[f.pong]:[],message:f?.message?[e.emit,f.message]:[e.emit],closed:f?.closed?[f.closed]:[],error:f?.error?[f.error]:[]};return{onMessage:e.on,on(e,n){let r=t[e];return r.push(n),()=>{let e=r.indexOf(n);e>-1&&r.splice(e,1)}},emit(e,...n){for(let r of[...t[e]])r(...n)}}})();function b(e){let t=[y.on(`error`,n=>{t.forEach(e=>e()),e(n)}),y.on(`closed`,n=>{t.forEach(e=>e()),e(n)})];return()=>t.forEach(e=>e())}let x,S=0,C,w=!1,T=0,E=!1;async function D(){clearTimeout(C);let[e,r]=await(x??=new Promise((e,r)=>(async()=>{if(w){if(await u(T),!S)return x=void 0,r({code:1e3,reason:`All Subscriptions Gone`});T++}y.emit(`connecting`,w);let i=new v(typeof t==`function`?await t():t,`graphql-transport-ws`),a,l;function d(){isFinite(o)&&o>0&&(clearTimeout(l),l=setTimeout(()=>{i.readyState===v.OPEN&&(i.send(mt({type:G.Ping})),y.emit(`ping`,!1,void 0))},o))}b(e=>{x=void 0,clearTimeout(a),clearTimeout(l),r(e),e instanceof gt&&(i.close(4499,`Terminated`),i.onerror=null,i.onclose=null)}),i.onerror=e=>y.emit(`error`,e),i.onclose=e=>y.emit(`closed`,e),i.onopen=async()=>{try{y.emit(`opened`,i);let e=typeof n==`function`?await n():n;if(i.readyState!==v.OPEN)return;i.send(mt(e?{type:G.ConnectionInit,payload:e}:{type:G.ConnectionInit},h)),isFinite(c)&&c>0&&(a=setTimeout(()=>{i.close(W.ConnectionAcknowledgementTimeout,`Connection acknowledgement timeout`)},c)),d()}catch(e){y.emit(`error`,e),i.close(W.InternalClientError,dt(e instanceof Error?e.message:String(e),`Internal client error`))}};let f=!1;i.onmessage=({data:t})=>{try{let n=pt(t,g);if(y.emit(`message`,n),n.type===`ping`||n.type===`pong`){y.emit(n.type,!0,n.payload),n.type===`pong`?d():s||(i.send(mt(n.payload?{type:G.Pong,payload:n.payload}:{type:G.Pong},h)),y.emit(`pong`,!1,n.payload));return}if(f)return;if(n.type!==G.ConnectionAck)throw Error(`First message cannot be of type ${n.type}`);clearTimeout(a),f=!0,y.emit(`connected`,i,n.payload,w),w=!1,T=0;let r=new Promise((e,t)=>b(t));r.catch(()=>{}),e([i,r])}catch(e){i.onmessage=null,y.emit(`error`,e),i.close(W.BadResponse,dt(e instanceof Error?e.message:String(e),`Bad response`))}}})()));e.readyState===v.CLOSING&&await r;let i=()=>{},l=new Promise(e=>i=e);return[e,i,new Promise((t,n)=>{let i=b(n);e.readyState!==v.OPEN&&r.catch(n),l.then(()=>{if(i(),!S){let t=()=>e.close(1e3,`Normal Closure`);isFinite(a)&&a>0?(clearTimeout(C),C=setTimeout(()=>{!S&&e.readyState===v.OPEN&&t()},a)):t()}t()})})]}function O(e){if(_t(e)&&(vt(e.code)||[W.InternalServerError,W.InternalClientError,W.BadRequest,W.BadResponse,W.Unauthorized,W.SubprotocolNotAcceptable,W.SubscriberAlreadyExists,W.TooManyInitialisationRequests].includes(e.code)))throw e;if(E)return!1;if(_t(e)&&e.code===1e3)return S>0;if(!l||T>=l||!d(e))throw e;return w=!0}r||(async()=>{for(S++;;)try{let[,,e]=await D();await e}catch(e){try{if(!O(e))return}catch(e){return i?.(e)}}})();function ee(e,t){let n=m(e),r=!1,i=!1,a=()=>{S--,r=!0};return(async()=>{for(S++;;)try{let[o,s,c]=await D();if(r)return c.catch(()=>{}),s();let l=y.onMessage(n,e=>{switch(e.type){case G.Next:t.next(e.payload);return;case G.Error:i=!0,r=!0,t.error(e.payload),a();return;case G.Complete:r=!0,a();return}});o.send(mt({id:n,type:G.Subscribe,payload:e},h)),a=()=>{!r&&o.readyState===v.OPEN&&o.send(mt({id:n,type:G.Complete},h)),S--,r=!0,s()},await c.finally(l);return}catch(e){if(!O(e))return}})().then(()=>{i||t.complete()}).catch(e=>{t.error(e)}),()=>{r||a()}}return{on:y.on,subscribe:ee,iterate(e){let t=[],n={done:!1,error:null,resolve:()=>{}},r=ee(e,{next(e){t.push(e),n.resolve()},error(e){n.done=!0,n.error=e,n.resolve()},complete(){n.done=!0,n.resolve()}}),i=async function*(){for(;;){for(t.length||await new Promise(e=>n.resolve=e);t.length;)yield t.shift();if(n.error)throw n.error;if(n.done)return}}();return i.throw=async e=>(n.done||(n.done=!0,n.error=e,n.resolve()),{done:!0,value:void 0}),i.return=async()=>(r(),{done:!0,value:void 0}),i},async dispose(){if(E=!0,x){let[e]=await x;e.close(1e3,`Normal Closure`)}},terminate(){x&&y.emit(`closed`,new gt)}}}var gt=class extends Error{name=`TerminatedCloseEvent`;message=`4499: Terminated`;code=4499;reason=`Terminated`;wasClean=!1};function _t(e){return U(e)&&`code`in e&&`reason`in e}function vt(e){return![1e3,1001,1006,1005,1012,1013,1014].includes(e)&&e>=1e3&&e<=1999}function yt(e){return typeof e==`function`&&`constructor`in e&&`CLOSED`in e&&`CLOSING`in e&&`CONNECTING`in e&&`OPEN`in e}function bt(e){let t=globalThis.location,n=t?new URL(e,t.href):new URL(e);return n.protocol=n.protocol===`https:`?`wss:`:`ws:`,n.toString()}function xt(e){if(typeof e==`object`&&e&&`code`in e){let t=e.code;return typeof t==`number`?t:null}return null}function St(e){return Array.isArray(e)?e:null}var Ct=e=>new Promise(t=>setTimeout(t,e)),wt=class{options;client;constructor(e){this.options=e;let t=e.onStatus;this.client=ht({url:e.url,lazy:!0,retryAttempts:0,keepAlive:e.keepAliveMs??1e4,webSocketImpl:e.webSocketImpl,connectionParams:async()=>{let t=await ct(e.token);return t?{Authorization:`Bearer ${t}`}:{}},on:{connecting:()=>t?.(`connecting`),connected:()=>t?.(`connected`),closed:()=>t?.(`closed`)}})}subscribe(e,t,n){return this.client.subscribe({query:e.toString(),variables:t},{next:e=>{e.errors?.length?n.error?.(V.of(null,e.errors)):e.data!=null&&n.next(e.data)},error:e=>n.error?.(this.asError(e)),complete:()=>n.complete?.()})}resumable(e,t,n){let r=this.options.retry??{},i=r.initialDelayMs??250,a=r.maxDelayMs??1e4,o=r.maxAttempts??1/0,s=t.initialCursor,c=!1,l=null,u=0,d=e=>{c=!0,e===void 0?n.complete?.():n.error?.(this.asError(e))},f=async e=>{if(l=null,c)return;let t=St(e);if(t!==null){if(!t.some(e=>e.extensions?.code===`subscriber_too_slow`)){d(V.of(null,t));return}}else if(xt(e)===4403){if(!(this.options.onTokenRejected&&await this.options.onTokenRejected())){d(e);return}}else if(xt(e)===4400||xt(e)===4500){d(e);return}u+=1,u>o?d(e):(this.options.onStatus?.(`reconnecting`),await Ct(Math.min(a,i*2**(u-1))*(.5+Math.random()/2)),c||p())},p=()=>{let r=t.variables(s),i=null;l=this.client.subscribe({query:e.toString(),variables:r},{next:e=>{e.errors?.length?i=e.errors:e.data!=null&&(u=0,s=t.cursorOf(e.data),n.next(e.data))},error:e=>void f(e),complete:()=>{l=null,i===null?c||d():f(i)}})};return p(),{cancel:()=>{c=!0,l?.()},get cursor(){return s}}}instanceEvents(e,t,n=0){return this.resumable(Je,{variables:t=>({instanceId:e,afterSeq:t??0}),cursorOf:e=>e.instanceEvents.seq,initialCursor:n},{...t,next:e=>t.next(e.instanceEvents)})}instanceChanges(e,t=null,n){return this.resumable(Ke,{variables:e=>({filter:t,after:e??null}),cursorOf:e=>e.instanceChanges.cursor,...n===void 0?{}:{initialCursor:n}},{...e,next:t=>e.next(t.instanceChanges)})}async dispose(){await this.client.dispose()}asError(e){let t=St(e);if(t!==null)return V.of(null,t);let n=xt(e);if(n!==null){let t=e.reason;return new V(`websocket closed (${n}${typeof t==`string`&&t?`: ${t}`:``})`,null,[{message:String(t??``),extensions:{code:n===4403?`forbidden`:`ws_${n}`}}])}return e}},Tt=`workflow-engine.dashboard.session`,Et=`/graphql`;function Dt(){try{let e=sessionStorage.getItem(Tt);return e?JSON.parse(e):null}catch{return null}}var K=Dt()?.username??``,Ot=new Set,kt=new Set,At=`closed`,jt=new lt({url:Et,token:()=>q.accessToken(),onUnauthorized:async()=>{try{return await q.refresh(),!0}catch{return!1}}}),q=new st(jt,Dt()?.tokens??null,{onTokens:e=>{e?sessionStorage.setItem(Tt,JSON.stringify({tokens:e,username:K})):(sessionStorage.removeItem(Tt),K=``),Ot.forEach(e=>e())}}),Mt=null;function Nt(){return Mt??=new wt({url:bt(Et),token:()=>q.accessToken(),onTokenRejected:async()=>{try{return await q.refresh(),!0}catch{return!1}},retry:{initialDelayMs:250,maxDelayMs:5e3},onStatus:e=>{(At!==`reconnecting`||e!==`closed`&&e!==`connecting`)&&(At=e,kt.forEach(t=>t(e)))}}),Mt}function Pt(){return q.current!==null}function Ft(){return K}function It(e){return Ot.add(e),()=>Ot.delete(e)}function Lt(e){return kt.add(e),e(At),()=>kt.delete(e)}async function Rt(e,t){K=e,await q.login(e,t),K=(await jt.request(Pe)).me?.username??e,sessionStorage.setItem(Tt,JSON.stringify({tokens:q.current,username:K})),Ot.forEach(e=>e())}async function zt(){let e=Mt;Mt=null,await e?.dispose();try{await q.logout()}catch{}}function J(e,...t){return jt.request(e,...t)}function Bt(e,t,n,r){let i=Nt().resumable(e,{variables:()=>t(),cursorOf:()=>null},{next:n,complete:r,error:e=>console.warn(`feed ended`,e)});return()=>i.cancel()}var Vt=class{limit;items=[];dropped=0;constructor(e){this.limit=e}push(...e){this.items.push(...e);let t=this.items.length-this.limit;t>0&&(this.items.splice(0,t),this.dropped+=t)}clear(){this.items=[],this.dropped=0}},Ht=e=>{typeof requestAnimationFrame==`function`?requestAnimationFrame(()=>e()):setTimeout(e,16)},Ut=class{deliver;schedule;pending=[];scheduled=!1;constructor(e,t=Ht){this.deliver=e,this.schedule=t}add(e){this.pending.push(e),this.scheduled||(this.scheduled=!0,this.schedule(()=>{this.scheduled=!1;let e=this.pending;this.pending=[],e.length&&this.deliver(e)}))}},Wt=new Vt(5e4),Gt=new Vt(5e4);function Kt(e){e.length&&requestAnimationFrame(()=>{let t=Date.now();for(let n of e){let e=Date.parse(n);Number.isNaN(e)||Wt.push(t-e)}})}function qt(e){requestAnimationFrame(()=>{let t=performance.now();for(let n of e)Gt.push(t-n)})}window.__dashboardMetrics={paintLatencies:Wt,arrivalLatencies:Gt};function Jt(e){let[t,n]=e.replace(/^#\/?/,``).split(`?`,2);return{path:t?t.split(`/`).map(decodeURIComponent):[],query:new URLSearchParams(n??``)}}function Y(e,t){let n=new URLSearchParams;for(let[e,r]of Object.entries(t??{}))r!=null&&r!==``&&n.set(e,String(r));let r=n.toString();return`#/${e}${r?`?${r}`:``}`}function Yt(e,t){location.hash=Y(e,t)}function Xt(){let[e,t]=L(()=>Jt(location.hash));return R(()=>{let e=()=>t(Jt(location.hash));return addEventListener(`hashchange`,e),()=>removeEventListener(`hashchange`,e)},[]),e}var Zt=34,Qt=18,$t=16;function X(e){return typeof e==`string`?[e]:Array.isArray(e)?e.filter(e=>typeof e==`string`):[]}function en(e){let t=new Set(e.map(e=>String(e.id))),n=[],r=e=>{t.has(e.from)&&t.has(e.to)&&n.push(e)},i=new Map(e.map(e=>[String(e.id),X(e.next).length>0]));for(let t of e){let e=String(t.id),n=t.config??{},a=[];if(Array.isArray(n.conditions))for(let t of n.conditions){let n=typeof t.expression==`string`?t.expression:void 0;for(let i of X(t.next))r({from:e,to:i,kind:`branch`,label:n}),a.push(i)}for(let t of X(n.default))r({from:e,to:t,kind:`branch`,label:`default`});for(let t of X(n.parallel_tasks))r({from:e,to:t,kind:`fork`}),a.push(t);let o=a.length>0&&String(t.type).match(/^(parallel|inclusive)_gateway$/)!==null;for(let n of X(t.next))if(!o)r({from:e,to:n,kind:`flow`});else for(let e of a)i.get(e)===!1&&r({from:e,to:n,kind:`join`});let s=X(n.attached_to);for(let t of s)r({from:t,to:e,kind:`boundary`});if(s.length)for(let t of X(n.action))r({from:e,to:t,kind:`flow`})}return n}function tn(e){let t=e?.steps??[];if(!Array.isArray(t)||t.length===0)return{nodes:[],edges:[],width:0,height:0};let n=t.map(e=>String(e.id)),r=en(t),i=new Map(n.map(e=>[e,[]])),a=new Map(n.map(e=>[e,0])),o=[],s=new Map,c=new Map(n.map(e=>[e,[]]));for(let e of r)c.get(e.from).push(e);let l=e=>{s.set(e,1);for(let t of c.get(e)){let e=s.get(t.to);e!==1&&(o.push(t),e===void 0&&l(t.to))}s.set(e,2)},u=new Set(r.map(e=>e.to));for(let e of n)!u.has(e)&&!s.has(e)&&l(e);for(let e of n)s.has(e)||l(e);for(let e of o)i.get(e.from).push(e.to),a.set(e.to,a.get(e.to)+1);let d=new Map(n.map(e=>[e,0])),f=n.filter(e=>a.get(e)===0);for(;f.length;){let e=f.shift();for(let t of i.get(e))d.set(t,Math.max(d.get(t),d.get(e)+1)),a.set(t,a.get(t)-1),a.get(t)===0&&f.push(t)}let p=new Map,m=t.map(e=>{let t=String(e.id),n=d.get(t),r=p.get(n)??0;return p.set(n,r+1),{id:t,name:typeof e.name==`string`&&e.name?e.name:t,kind:String(e.type??``),layer:n,row:r,x:$t+n*166,y:$t+r*62}}),h=Math.max(...m.map(e=>e.layer))+1,g=Math.max(...p.values());return{nodes:m,edges:r,width:32+h*132+(h-1)*Zt,height:32+g*44+(g-1)*Qt}}var nn=0;Array.isArray;function Z(e,n,r,i,a,o){n||={};var s,c,l=n;if(`ref`in l)for(c in l={},n)c==`ref`?s=n[c]:l[c]=n[c];var u={type:e,props:l,key:r,ref:s,__k:null,__:null,__b:0,__e:null,__c:null,constructor:void 0,__v:--nn,__i:-1,__u:0,__source:a,__self:o};if(typeof e==`function`&&(s=e.defaultProps))for(c in s)l[c]===void 0&&(l[c]=s[c]);return t.vnode&&t.vnode(u),u}function rn(e,t){let n=0;for(let r=0;r<e.length;r++)if(n+=e.charCodeAt(r)>11904?2:1,n>t)return`${e.slice(0,r)}…`;return e}function an(e,t){let{x:n,y:r}=e,i=n+66,a=r+22;return e.kind.endsWith(`gateway`)?Z(`polygon`,{class:t,points:`${i},${r} ${n+132},${a} ${i},${r+44} ${n},${a}`}):e.kind.endsWith(`_event`)?Z(`rect`,{class:t,x:n,y:r,width:132,height:44,rx:22}):Z(`rect`,{class:t,x:n,y:r,width:132,height:44,rx:6})}function on({definition:e,current:t,visited:n}){let r=Ce(()=>tn(e),[e]),i=new Set(t),a=new Map(r.nodes.map(e=>[e.id,e]));return Z(`svg`,{class:`diagram`,width:r.width,height:r.height,viewBox:`0 0 ${r.width} ${r.height}`,role:`img`,"aria-label":`process diagram`,"data-testid":`diagram`,children:[Z(`defs`,{children:Z(`marker`,{id:`arrow`,viewBox:`0 0 10 10`,refX:`9`,refY:`5`,markerWidth:`7`,markerHeight:`7`,orient:`auto-start-reverse`,children:Z(`path`,{d:`M 0 0 L 10 5 L 0 10 z`,class:`arrowhead`})})}),r.edges.map((e,t)=>{let n=a.get(e.from),r=a.get(e.to),i=r.layer>n.layer,o=i?n.x+132:n.x+66,s=i?n.y+22:n.y+44,c=i?r.x:r.x+66,l=i?r.y+22:r.y+44,u=(o+c)/2;return Z(`path`,{d:i?`M ${o} ${s} C ${u} ${s}, ${u} ${l}, ${c} ${l}`:`M ${o} ${s} C ${o} ${s+40}, ${c} ${l+40}, ${c} ${l}`,class:`edge edge-${e.kind}`,"marker-end":`url(#arrow)`,children:e.label&&Z(`title`,{children:e.label})},t)}),r.nodes.map(e=>{let t=[`step`,`kind-${e.kind}`,i.has(e.id)?`current`:n.has(e.id)?`visited`:``].join(` `);return Z(`g`,{"data-step":e.id,"data-current":i.has(e.id)?`true`:`false`,children:[Z(`title`,{children:`${e.id} (${e.kind})`}),an(e,t),Z(`text`,{x:e.x+66,y:e.y+22-3,class:`label`,children:rn(e.name,19)}),Z(`text`,{x:e.x+66,y:e.y+22+11,class:`kind`,children:e.kind.replace(/_/g,` `)})]},e.id)})]})}function sn({status:e}){return Z(`span`,{class:`status status-${e.toLowerCase()}`,children:e.toLowerCase()})}function Q({at:e}){return e?Z(`time`,{dateTime:e,title:e,children:new Date(e).toLocaleString()}):null}function cn({message:e,problems:t}){return Z(`div`,{class:`error`,role:`alert`,"data-testid":`problems`,children:[Z(`p`,{children:e}),t&&t.length>0&&Z(`ul`,{children:t.map((e,t)=>Z(`li`,{children:[Z(`code`,{children:e.path}),` `,e.message,` `,Z(`span`,{class:`muted`,children:[`[`,e.code,`]`]})]},t))})]})}function ln({value:e}){return Z(`pre`,{class:`json`,children:JSON.stringify(e,null,2)})}function un({title:e,children:t,testid:n}){return Z(`section`,{class:`card`,"data-testid":n,children:[Z(`h3`,{children:e}),t]})}function $(e){return e.message??e.__typename??`refused`}function dn({deployed:e}){let[t,n]=L(``),[r,i]=L(null);return Z(`form`,{class:`card deploy`,onSubmit:async n=>{n.preventDefault();let r;try{r=JSON.parse(t)}catch(e){i({message:`Not JSON: ${e.message}`});return}let a=(await J(Ue,{definition:r})).deployDefinition;if(a.__typename===`DeployDefinitionSuccess`){let t=a.definition;i({ok:`${t.key} v${t.version} ${a.created?`deployed as revision ${t.revision}`:`unchanged (identical content)`}`}),e()}else i({message:$(a),problems:a.__typename===`ValidationFailed`?a.problems:void 0})},"data-testid":`deploy`,children:[Z(`h3`,{children:`Deploy a definition`}),Z(`input`,{type:`file`,accept:`.json,application/json`,"aria-label":`Definition file`,onChange:async e=>{let t=e.currentTarget.files?.[0];t&&n(await t.text())}}),Z(`textarea`,{rows:6,value:t,placeholder:`or paste the JSON here`,onInput:e=>n(e.currentTarget.value)}),Z(`button`,{type:`submit`,disabled:!t.trim(),children:`Deploy`}),r?.ok&&Z(`p`,{class:`ok`,children:r.ok}),r?.message&&Z(cn,{message:r.message,problems:r.problems})]})}function fn({definition:e}){let[t,n]=L(``),[r,i]=L(`{}`),[a,o]=L(null);return Z(`form`,{class:`card start`,onSubmit:async n=>{n.preventDefault();let i;try{i=JSON.parse(r||`{}`)}catch(e){o({message:`Variables are not JSON: ${e.message}`});return}let a=(await J(Ye,{definitionId:e.id,businessKey:t||null,variables:i})).startInstance;a.__typename===`InstanceSuccess`?Yt(`instances/${a.instance.id}`):o({message:$(a),problems:a.__typename===`ValidationFailed`?a.problems:void 0})},"data-testid":`start`,children:[Z(`h3`,{children:`Start an instance`}),Z(`input`,{name:`businessKey`,placeholder:`business key`,"aria-label":`Business key`,value:t,onInput:e=>n(e.currentTarget.value)}),Z(`textarea`,{name:`variables`,rows:4,"aria-label":`Variables (JSON)`,value:r,onInput:e=>i(e.currentTarget.value)}),Z(`button`,{type:`submit`,children:`Start`}),a&&Z(cn,{message:a.message,problems:a.problems})]})}function pn({route:e}){let t=Number(e.query.get(`id`))||null,[n,r]=L(null),[i,a]=L(null),[o,s]=L(0);return R(()=>{J(He,{latestOnly:!0}).then(e=>r(e.definitions))},[o]),R(()=>{a(null),t&&J(ze,{id:t}).then(e=>a(e.definition))},[t]),Z(`div`,{children:[Z(`div`,{class:`columns`,children:[Z(`section`,{class:`card`,children:[Z(`h3`,{children:`Deployed`}),n?Z(`table`,{class:`grid`,"data-testid":`definitions`,children:[Z(`thead`,{children:Z(`tr`,{children:[Z(`th`,{children:`Key`}),Z(`th`,{children:`Name`}),Z(`th`,{children:`Versions`})]})}),Z(`tbody`,{children:[n.map(e=>Z(`tr`,{children:[Z(`td`,{children:Z(`a`,{href:Y(`definitions`,{id:e.id}),children:e.key})}),Z(`td`,{children:e.name}),Z(`td`,{children:e.versions.map(e=>Z(`a`,{class:`version ${e.id===t?`selected`:``}`,href:Y(`definitions`,{id:e.id}),title:e.deployedAt,children:[`v`,e.version,` (r`,e.revision,`)`]},e.id))})]},e.id)),n.length===0&&Z(`tr`,{children:Z(`td`,{colSpan:3,class:`muted`,children:`Nothing deployed yet.`})})]})]}):Z(`p`,{class:`muted`,children:`Loading…`})]}),Z(dn,{deployed:()=>s(e=>e+1)})]}),i&&Z(`section`,{class:`card`,"data-testid":`definition`,children:[Z(`h3`,{children:[i.name,` `,Z(`span`,{class:`muted`,children:[i.key,` v`,i.version,` · revision `,i.revision,` · deployed `,Z(Q,{at:i.deployedAt}),` by `,i.deployedBy??`?`]})]}),Z(`p`,{children:Z(`a`,{href:Y(`instances`,{key:i.key}),children:`Its instances`})}),Z(`div`,{class:`diagram-box`,children:Z(on,{definition:i.definition,current:[],visited:new Set})}),Z(fn,{definition:i})]})]})}function mn(e,t){return{after:t,back:[...gn(e.back),e.after].join(`,`)}}function hn(e){let t=gn(e.back);return{after:t.pop()??``,back:t.join(`,`)}}function gn(e){return e?e.split(`,`):[]}var _n=25,vn={open:`OPEN`,resolved:`RESOLVED`,all:null};function yn({route:e}){let t=e.query.get(`status`)??`open`,n=e.query.get(`key`)??``,r=e.query.get(`after`)??``,i=e.query.get(`back`)??``,[a,o]=L(null),[s,c]=L(null),[l,u]=L([]),[d,f]=L(``),[p,m]=L(``),[h,g]=L(0);R(()=>{J(He,{latestOnly:!0}).then(e=>u(e.definitions.map(e=>e.key))).catch(()=>u([]))},[]),R(()=>{let e=!0;return m(``),J(We,{filter:{status:vn[t]??null,definitionKey:n||null},first:_n,after:r||null}).then(t=>{e&&(o(t.incidents.edges.map(e=>e.node)),c(t.incidents.pageInfo.hasNextPage?t.incidents.pageInfo.endCursor:null))}).catch(t=>e&&m(t.message)),()=>{e=!1}},[t,n,r,h]);let _=async e=>{let t=(await J(Ge,{id:e})).retryIncident;f(t.__typename===`InstanceSuccess`?`Incident ${e}: retried.`:`Incident ${e}: ${$(t)}`),g(e=>e+1)},v=e=>Yt(`incidents`,{status:t,key:n,...e});return Z(`section`,{children:[Z(`form`,{class:`filters`,"data-testid":`incident-filters`,onSubmit:e=>{e.preventDefault();let t=new FormData(e.currentTarget);Yt(`incidents`,{status:String(t.get(`status`)??``),key:String(t.get(`key`)??``)})},children:[Z(`select`,{name:`status`,value:t,"aria-label":`Status`,children:[Z(`option`,{value:`open`,children:`open`}),Z(`option`,{value:`resolved`,children:`resolved`}),Z(`option`,{value:`all`,children:`every status`})]}),Z(`select`,{name:`key`,value:n,"aria-label":`Definition`,children:[Z(`option`,{value:``,children:`every definition`}),l.map(e=>Z(`option`,{value:e,children:e},e))]}),Z(`button`,{type:`submit`,children:`Filter`})]}),d&&Z(`p`,{class:`notice-line`,children:d}),p&&Z(`p`,{class:`error`,children:p}),a?Z(`table`,{class:`grid`,"data-testid":`incidents`,children:[Z(`thead`,{children:Z(`tr`,{children:[Z(`th`,{children:`Instance`}),Z(`th`,{children:`Definition`}),Z(`th`,{children:`Step`}),Z(`th`,{children:`Error`}),Z(`th`,{children:`Raised`}),Z(`th`,{})]})}),Z(`tbody`,{children:[a.map(e=>Z(`tr`,{"data-incident":e.id,children:[Z(`td`,{children:[Z(`a`,{href:Y(`instances/${e.instance.id}`),children:[`#`,e.instance.id]}),` `,e.instance.businessKey??``,` `,Z(sn,{status:e.instance.status})]}),Z(`td`,{children:e.instance.definitionKey}),Z(`td`,{children:Z(`code`,{children:e.stepId})}),Z(`td`,{children:[Z(`b`,{children:e.error}),Z(`div`,{class:`muted wrap`,children:e.message})]}),Z(`td`,{children:[Z(Q,{at:e.createdAt}),e.resolvedAt&&Z(`div`,{class:`muted`,children:[`resolved `,Z(Q,{at:e.resolvedAt})]})]}),Z(`td`,{children:e.status===`open`&&Z(`button`,{onClick:()=>_(e.id),children:`Retry`})})]},e.id)),a.length===0&&Z(`tr`,{children:Z(`td`,{colSpan:6,class:`muted`,children:`No incidents match.`})})]})]}):Z(`p`,{class:`muted`,children:`Loading…`}),Z(`nav`,{class:`pager`,children:[Z(`button`,{disabled:!r,onClick:()=>v(hn({after:r,back:i})),children:`‹ Newer`}),Z(`button`,{disabled:!s,onClick:()=>s&&v(mn({after:r,back:i},s)),children:`Older ›`})]})]})}function bn(e,t,n,r,i,a=!0){let o=z(n);o.current=n;let s=z(i);s.current=i,R(()=>{if(!a)return;let n=new Ut(e=>{o.current(e.map(e=>e.data)),qt(e.map(e=>e.at))});return Bt(e,t,e=>n.add({data:e,at:performance.now()}),()=>s.current?.())},[...r,a])}var xn=300;function Sn({id:e,variables:t,running:n,saved:r}){let[i,a]=L(!1),[o,s]=L(`{}`),[c,l]=L(null);return Z(un,{title:`Variables`,testid:`variables`,children:[Z(ln,{value:t}),n&&!i&&Z(`button`,{class:`secondary`,onClick:()=>a(!0),"data-testid":`edit-variables`,children:`Set variables`}),i&&Z(`form`,{class:`start`,onSubmit:async t=>{t.preventDefault();let n;try{n=JSON.parse(o)}catch(e){l({message:`Not JSON: ${e.message}`});return}let i=(await J(Xe,{id:e,variables:n})).setVariables;i.__typename===`InstanceSuccess`?(a(!1),l(null),r()):l({message:$(i),problems:i.__typename===`ValidationFailed`?i.problems:void 0})},children:[Z(`textarea`,{rows:3,"aria-label":`Variables to set (JSON, merged)`,value:o,onInput:e=>s(e.currentTarget.value)}),Z(`div`,{class:`actions`,children:[Z(`button`,{type:`submit`,children:`Save`}),Z(`button`,{type:`button`,class:`secondary`,onClick:()=>a(!1),children:`Cancel`})]}),c&&Z(cn,{message:c.message,problems:c.problems})]})]})}var Cn=250;function wn({id:e}){let[t,n]=L(void 0),[r,i]=L(``),a=z(new Vt(xn)),o=z(0),[,s]=L(0),c=z({timer:null,again:!1}),l=z(0),u=()=>{let t=++l.current;return J(qe,{id:e}).then(e=>{t===l.current&&(i(``),n(e.instance),e.instance&&o.current===0&&(a.current.clear(),a.current.push(...e.instance.history),o.current=e.instance.history.at(-1)?.seq??0))}).catch(e=>{t===l.current&&i(e.message)})},d=()=>{let e=c.current;e.timer===null?(u(),e.timer=window.setTimeout(function(){e.timer=null,e.again&&(e.again=!1,d())},Cn)):e.again=!0};R(()=>(o.current=0,a.current.clear(),n(void 0),u(),()=>{c.current.timer!==null&&clearTimeout(c.current.timer),c.current={timer:null,again:!1}}),[e]),bn(Je,()=>({instanceId:e,afterSeq:o.current}),e=>{let t=e.map(e=>e.instanceEvents).filter(e=>e.seq>o.current);t.length&&(a.current.push(...t),o.current=t[t.length-1].seq,s(e=>e+1),Kt(t.map(e=>e.at)),d())},[e],()=>d(),t!==void 0);let f=Ce(()=>new Set(a.current.items.map(e=>e.stepId).filter(e=>!!e)),[a.current.items.length,o.current]);if(t===void 0)return Z(`p`,{class:`muted`,children:`Loading…`});if(t===null)return Z(`p`,{class:`error`,children:[`No instance `,e,` (or you may not see it).`]});let p=a.current.items;return Z(`section`,{class:`instance`,children:[Z(`header`,{class:`title`,children:[Z(`h2`,{children:[`Instance `,t.id,` `,Z(sn,{status:t.status})]}),Z(`p`,{class:`muted`,children:[t.definition.name,` (`,t.definition.key,` v`,t.definition.version,`) · `,t.businessKey??`no business key`,` · started `,Z(Q,{at:t.startedAt}),` by `,t.startedBy??`?`,t.endedAt&&Z(S,{children:[` · ended `,Z(Q,{at:t.endedAt})]}),t.parent&&Z(S,{children:[` · sub-process of `,Z(`a`,{href:Y(`instances/${t.parent.id}`),children:[`#`,t.parent.id]})]})]}),Z(`p`,{"data-testid":`current-steps`,children:[`At: `,t.currentSteps.length?t.currentSteps.join(`, `):`—`]})]}),r&&Z(`p`,{class:`error`,children:r}),Z(`div`,{class:`diagram-box`,children:Z(on,{definition:t.definition.definition,current:t.currentSteps,visited:f})}),Z(`div`,{class:`columns`,children:[Z(Sn,{id:t.id,variables:t.variables,running:t.status===`RUNNING`,saved:d}),Z(`div`,{children:[Z(un,{title:`Tasks`,children:Z(`ul`,{class:`plain`,children:[t.tasks.map(e=>Z(`li`,{children:[e.status===`open`?Z(`a`,{href:Y(`tasks`,{task:e.id}),children:e.name||e.stepId}):e.name||e.stepId,` `,Z(`span`,{class:`muted`,children:[e.status,e.assignee?` · ${e.assignee}`:``,e.completedBy?` · by ${e.completedBy}`:``]})]},e.id)),t.tasks.length===0&&Z(`li`,{class:`muted`,children:`none`})]})}),Z(un,{title:`Incidents`,children:Z(`ul`,{class:`plain`,children:[t.incidents.map(e=>Z(`li`,{children:[Z(`b`,{children:e.stepId}),`: `,e.error,` — `,e.message,` `,Z(`span`,{class:`muted`,children:e.status}),e.status===`open`&&Z(`button`,{onClick:async()=>{let t=(await J(Ge,{id:e.id})).retryIncident;t.__typename!==`InstanceSuccess`&&i($(t)),d()},children:`Retry`})]},e.id)),t.incidents.length===0&&Z(`li`,{class:`muted`,children:`none`})]})})]})]}),Z(un,{title:`History`,testid:`timeline`,children:[a.current.dropped>0&&Z(`p`,{class:`muted`,children:[a.current.dropped,` earlier entries not shown (the last `,xn,` are).`]}),Z(`ol`,{class:`timeline`,children:p.map(e=>Z(`li`,{"data-seq":e.seq,children:[Z(`span`,{class:`seq`,children:e.seq}),` `,Z(Q,{at:e.at}),` `,Z(`b`,{children:e.type}),` `,e.stepId&&Z(`code`,{children:e.stepId}),e.actor&&Z(`span`,{class:`muted`,children:[` · `,e.actor]})]},e.seq))})]})]})}var Tn=25,En=[`RUNNING`,`SUSPENDED`,`COMPLETED`,`FAILED`,`CANCELLED`];function Dn({route:e}){let t=e.query.get(`key`)??``,n=e.query.get(`status`)??``,r=e.query.get(`bk`)??``,i=e.query.get(`after`)??``,a=e.query.get(`back`)??``,[o,s]=L(null),[c,l]=L(null),u=z(new Set),[d,f]=L(0),[p,m]=L([]),[h,g]=L(``),[_,v]=L(0);R(()=>{J(He,{latestOnly:!0}).then(e=>m(e.definitions.map(e=>e.key))).catch(()=>m([]))},[]),R(()=>{let e=!0;return g(``),J(Be,{filter:{definitionKey:t||null,status:n||null,businessKey:r||null},first:Tn,after:i||null}).then(t=>{e&&(s(t.instances.edges.map(e=>e.node)),l(t.instances.pageInfo.hasNextPage?t.instances.pageInfo.endCursor:null),u.current.clear(),f(0))}).catch(t=>e&&g(t.message)),()=>{e=!1}},[t,n,r,i,_]);let y=`${t}|${n}`,b=z(null);bn(Ke,()=>({filter:{definitionKey:t||null,status:n||null},after:b.current?.feed===y?b.current.after:null}),e=>{let t=new Map(e.map(e=>[e.instanceChanges.instanceId,e.instanceChanges]));b.current={feed:y,after:e[e.length-1].instanceChanges.cursor},s(e=>{if(!e)return e;let n=new Set(e.map(e=>e.id));for(let e of t.keys())n.has(e)||u.current.add(e);return f(u.current.size),e.map(e=>{let n=t.get(e.id);return n?{...e,status:n.status,endedAt:n.endedAt??e.endedAt,changedAt:n.updatedAt}:e})}),Kt(e.map(e=>e.instanceChanges.updatedAt))},[t,n]);let x=e=>Yt(`instances`,{key:t,status:n,bk:r,...e});return Z(`section`,{children:[Z(`form`,{class:`filters`,onSubmit:e=>{e.preventDefault();let t=new FormData(e.currentTarget);Yt(`instances`,{key:String(t.get(`key`)??``),status:String(t.get(`status`)??``),bk:String(t.get(`bk`)??``)})},children:[Z(`select`,{name:`key`,value:t,"aria-label":`Definition`,children:[Z(`option`,{value:``,children:`every definition`}),p.map(e=>Z(`option`,{value:e,children:e},e))]}),Z(`select`,{name:`status`,value:n,"aria-label":`Status`,children:[Z(`option`,{value:``,children:`every status`}),En.map(e=>Z(`option`,{value:e,children:e.toLowerCase()},e))]}),Z(`input`,{name:`bk`,value:r,placeholder:`business key`,"aria-label":`Business key`}),Z(`button`,{type:`submit`,children:`Filter`})]}),d>0&&Z(`button`,{class:`notice`,onClick:()=>i?x({}):v(e=>e+1),"data-testid":`fresh`,children:[d,` other instances changed or started: show`]}),h&&Z(`p`,{class:`error`,children:h}),o?Z(`table`,{class:`grid`,"data-testid":`instances`,children:[Z(`thead`,{children:Z(`tr`,{children:[Z(`th`,{children:`#`}),Z(`th`,{children:`Definition`}),Z(`th`,{children:`Business key`}),Z(`th`,{children:`Status`}),Z(`th`,{children:`At`}),Z(`th`,{children:`Started`}),Z(`th`,{children:`Last change`})]})}),Z(`tbody`,{children:[o.map(e=>Z(`tr`,{"data-instance":e.id,children:[Z(`td`,{children:Z(`a`,{href:Y(`instances/${e.id}`),children:e.id})}),Z(`td`,{children:[e.definition.key,` `,Z(`span`,{class:`muted`,children:[`v`,e.definition.version]})]}),Z(`td`,{children:e.businessKey??``}),Z(`td`,{children:Z(sn,{status:e.status})}),Z(`td`,{class:`steps`,children:e.currentSteps.join(`, `)}),Z(`td`,{children:Z(Q,{at:e.startedAt})}),Z(`td`,{class:`muted`,children:e.changedAt?Z(Q,{at:e.changedAt}):``})]},e.id)),o.length===0&&Z(`tr`,{children:Z(`td`,{colSpan:7,class:`muted`,children:`No instances match.`})})]})]}):Z(`p`,{class:`muted`,children:`Loading…`}),Z(`nav`,{class:`pager`,children:[Z(`button`,{disabled:!i,onClick:()=>x(hn({after:i,back:a})),children:`‹ Newer`}),Z(`button`,{disabled:!c,onClick:()=>c&&x(mn({after:i,back:a},c)),children:`Older ›`})]})]})}function On(){let[e,t]=L(null);if(bn(Ve,()=>({}),e=>t(e[e.length-1].dashboardCounters),[]),!e)return Z(`p`,{class:`muted`,children:`Waiting for the counters…`});let n=t=>e.definitions.reduce((e,n)=>e+n[t],0);return Z(`section`,{children:[Z(`div`,{class:`tiles`,children:[Z(`a`,{class:`tile`,href:Y(`instances`,{status:`RUNNING`}),"data-testid":`counter-active`,children:[Z(`b`,{children:n(`active`)}),` active instances`]}),Z(`a`,{class:`tile`,href:Y(`tasks`),"data-testid":`counter-tasks`,children:[Z(`b`,{children:e.openTasks}),` open tasks`]}),Z(`a`,{class:`tile ${e.openIncidents?`alarm`:``}`,href:Y(`incidents`),"data-testid":`counter-incidents`,children:[Z(`b`,{children:e.openIncidents}),` open incidents`]}),Z(`a`,{class:`tile`,href:Y(`instances`,{status:`COMPLETED`}),children:[Z(`b`,{children:n(`completed`)}),` completed`]})]}),Z(`table`,{class:`grid`,"data-testid":`counters`,children:[Z(`thead`,{children:Z(`tr`,{children:[Z(`th`,{children:`Definition`}),Z(`th`,{children:`Active`}),Z(`th`,{children:`Completed`}),Z(`th`,{children:`Failed`}),Z(`th`,{children:`Cancelled`})]})}),Z(`tbody`,{children:e.definitions.map(e=>Z(`tr`,{children:[Z(`td`,{children:Z(`a`,{href:Y(`instances`,{key:e.definitionKey}),children:e.definitionKey})}),Z(`td`,{children:e.active}),Z(`td`,{children:e.completed}),Z(`td`,{class:e.failed?`bad`:``,children:e.failed}),Z(`td`,{children:e.cancelled})]},e.definitionKey))})]})]})}var kn={ms:1,s:1e3,m:6e4,h:36e5,d:864e5,w:6048e5};function An(e){if(e.trim().match(/^(\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/)){let t=0;for(let[,n,r]of e.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g))t+=Number(n)*kn[r];return t}let t=e.trim().match(/^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i);if(t){let[,e,n,r,i]=t;return(Number(e??0)*86400+Number(n??0)*3600+Number(r??0)*60+Number(i??0))*1e3}return null}function jn(e){let t=e?.steps;return Array.isArray(t)?t:[]}function Mn(e,t,n){let r=jn(e),i=new Map(r.map(e=>[String(e.id),typeof e.name==`string`&&e.name?e.name:String(e.id)])),a=[];for(let e of r){let r=e.config??{};if(e.type!==`timer_event`||r.attached_to!==t||r.interrupting===!1)continue;let o=typeof r.action==`string`?r.action:Array.isArray(e.next)?String(e.next[0]??``):String(e.next??``),s=typeof r.duration==`string`?r.duration:null,c=s?An(s):null,l=c===null?typeof r.until==`string`&&!r.until.startsWith(`$`)?new Date(r.until):null:new Date(Date.parse(n)+c);a.push({timer:String(e.id),timerName:i.get(String(e.id)),to:o,toName:i.get(o)??o,duration:s,at:l})}return a}function Nn(e,t){for(let n of jn(e)){let e=n.config??{};if(n.type===`timer_event`&&e.attached_to&&e.action===t)return typeof n.name==`string`&&n.name?n.name:String(n.id)}return null}function Pn(e){let t={};for(let n of e)t[n.id]=n.type!==`boolean`&&``;return t}function Fn(e,t){switch(e.type){case`number`:{let e=Number(t);if(!Number.isFinite(e))throw Error(`a number is expected`);return e}case`integer`:{let e=Number(t);if(!Number.isInteger(e))throw Error(`a whole number is expected`);return e}case`object`:case`array`:{let n;try{n=JSON.parse(t)}catch{throw Error(`JSON is expected (an ${e.type})`)}let r=Array.isArray(n);if(!(e.type===`array`?r:!r&&typeof n==`object`&&n))throw Error(`JSON is expected (an ${e.type})`);return n}case`enum`:if(e.values.length&&!e.values.includes(t))throw Error(`not one of the choices`);return t;case`datetime`:{let e=new Date(t);if(Number.isNaN(e.getTime()))throw Error(`a date and time is expected`);return e.toISOString()}default:return t}}function In(e,t){let n={},r={};for(let i of e){let e=t[i.id];if(i.type===`boolean`){n[i.id]=e===!0;continue}let a=typeof e==`string`?e.trim():``;if(a===``)i.required&&(r[i.id]=`required`);else try{n[i.id]=Fn(i,a)}catch(e){r[i.id]=e.message}}return{variables:n,problems:r}}function Ln(e,t){let n=e.replace(/\[(\d+)\]/g,`.$1`).split(`.`).filter(e=>e&&e!==`$`);for(let e of n.reverse())if(t.some(t=>t.id===e))return e;return null}var Rn=new Map;function zn(e){let t=Rn.get(e);return t||(t=J(ze,{id:e}).then(e=>e.definition?.definition??null),Rn.set(e,t)),t}function Bn({task:e}){let[t,n]=L(void 0);if(R(()=>{zn(e.instance.definition.id).then(n).catch(()=>n(null))},[e.instance.definition.id]),!t)return null;let r=Nn(t,e.stepId),i=Mn(t,e.stepId,e.createdAt),a=e.dueAt&&Date.parse(e.dueAt)<Date.now();return Z(`span`,{class:`escalation`,"data-testid":`escalation`,children:[r&&Z(`span`,{class:`badge warn`,children:[`escalated (`,r,`)`]}),i.map(e=>Z(`span`,{class:`badge`,title:e.timerName,children:[`escalates to `,e.toName,e.at?` at ${e.at.toLocaleString()}`:e.duration?` after ${e.duration}`:``]},e.timer)),a&&Z(`span`,{class:`badge bad`,children:`overdue`})]})}function Vn({title:e,tasks:t,selected:n}){return Z(`section`,{class:`card`,children:[Z(`h3`,{children:[e,` (`,t.length,`)`]}),Z(`ul`,{class:`tasks`,children:[t.map(e=>Z(`li`,{class:e.id===n?`selected`:``,"data-task":e.id,children:[Z(`a`,{href:Y(`tasks`,{task:e.id}),children:e.name||e.stepId}),` `,Z(`span`,{class:`muted`,children:[`#`,e.instance.id,` `,e.instance.businessKey??``,` · `,e.instance.definition.name,` · priority `,e.priority,e.dueAt&&Z(S,{children:[` · due `,Z(Q,{at:e.dueAt})]}),e.candidateGroups.length>0&&Z(S,{children:[` · `,e.candidateGroups.join(`, `)]})]}),` `,Z(Bn,{task:e})]},e.id)),t.length===0&&Z(`li`,{class:`muted`,children:`none`})]})]})}function Hn({field:e,value:t,set:n}){let r={id:`field-${e.id}`,name:e.id,required:e.required},i=typeof t==`string`?t:``;switch(e.type){case`boolean`:return Z(`input`,{type:`checkbox`,...r,required:!1,checked:t===!0,onChange:e=>n(e.currentTarget.checked)});case`enum`:return Z(`select`,{...r,value:i,onChange:e=>n(e.currentTarget.value),children:[Z(`option`,{value:``,children:`—`}),e.values.map(e=>Z(`option`,{value:e,children:e},e))]});case`object`:case`array`:return Z(`textarea`,{...r,rows:3,value:i,placeholder:e.type===`array`?`[ ]`:`{ }`,onInput:e=>n(e.currentTarget.value)});default:return Z(`input`,{type:{number:`number`,integer:`number`,date:`date`,datetime:`datetime-local`}[e.type]??`text`,step:e.type===`number`?`any`:void 0,...r,value:i,onInput:e=>n(e.currentTarget.value)})}}function Un({id:e,changed:t,touched:n}){let[r,i]=L(void 0),[a,o]=L({}),[s,c]=L({}),[l,u]=L(null),[d,f]=L(``),p=Ft();if(R(()=>{J(Qe,{id:e}).then(e=>{i(e.task),o(t=>Object.keys(t).length?t:Pn(e.task?.form??[]))})},[e,t]),R(()=>{o({}),c({}),u(null),f(``)},[e]),r===void 0)return Z(`p`,{class:`muted`,children:`Loading task…`});if(r===null)return Z(`p`,{class:`muted`,children:[`Task `,e,` is gone (completed, withdrawn, or not yours to see).`]});let m=r.assignee===p,h=r.status===`open`,g=async(t=!1)=>{let a=t?(await J(Ie,{id:e})).unclaimTask:(await J(Fe,{id:e})).claimTask;a.__typename===`TaskSuccess`?(i({...r,assignee:a.task.assignee,status:a.task.status}),n()):u({message:$(a),problems:a.__typename===`ValidationFailed`?a.problems:void 0})};return Z(`section`,{class:`card task-panel`,"data-testid":`task-panel`,children:[Z(`h3`,{children:r.name||r.stepId}),Z(`p`,{class:`muted`,children:[Z(`a`,{href:Y(`instances/${r.instance.id}`),children:[`instance #`,r.instance.id]}),` `,r.instance.businessKey??``,` ·`,` `,r.status,` · `,r.assignee?`assigned to ${r.assignee}`:`unassigned`,` · priority `,r.priority,r.dueAt&&Z(S,{children:[` · due `,Z(Q,{at:r.dueAt})]})]}),d&&Z(`p`,{class:`ok`,"data-testid":`task-done`,children:d}),l&&Z(cn,{message:l.message,problems:l.problems}),h&&!m&&Z(`button`,{onClick:()=>g(),"data-testid":`claim`,children:`Claim`}),h&&m&&Z(`form`,{class:`task-form`,onSubmit:async t=>{t.preventDefault();let{variables:o,problems:s}=In(r.form,a);if(c(s),u(null),Object.keys(s).length)return;let l=(await J(Le,{id:e,variables:o})).completeTask;if(l.__typename===`TaskSuccess`)f(`Completed by ${l.task.completedBy??p}.`),i({...r,status:l.task.status}),n();else if(l.__typename===`ValidationFailed`){let e={},t=[];for(let n of l.problems){let i=Ln(n.path,r.form);i?e[i]=n.message:t.push(n)}c(e),u({message:l.message,problems:t})}else u({message:$(l)})},children:[r.form.map(e=>Z(`div`,{class:`field ${s[e.id]?`invalid`:``}`,children:[Z(`label`,{for:`field-${e.id}`,children:[e.label||e.id,e.required?` *`:``]}),Z(Hn,{field:e,value:a[e.id]??``,set:t=>o({...a,[e.id]:t})}),e.description&&Z(`small`,{class:`muted`,children:e.description}),s[e.id]&&Z(`small`,{class:`error`,children:s[e.id]})]},e.id)),r.form.length===0&&Z(`p`,{class:`muted`,children:`This task asks for nothing: complete it.`}),Z(`div`,{class:`actions`,children:[Z(`button`,{type:`submit`,"data-testid":`complete`,children:`Complete`}),Z(`button`,{type:`button`,class:`secondary`,onClick:()=>g(!0),children:`Give back`})]})]}),Z(`details`,{children:[Z(`summary`,{children:`Instance variables`}),Z(`pre`,{class:`json`,children:JSON.stringify(r.instance.variables,null,2)})]})]})}function Wn({route:e}){let t=Number(e.query.get(`task`))||null,[n,r]=L(null),[i,a]=L(0),o=z(null);return R(()=>{J(Re,{first:50}).then(r)},[i]),bn(Ze,()=>({}),()=>{o.current===null&&(o.current=window.setTimeout(()=>{o.current=null,a(e=>e+1)},150))},[]),n?Z(`div`,{class:`columns`,children:[Z(`div`,{children:[Z(Vn,{title:`Assigned to me`,tasks:n.assigned.edges.map(e=>e.node),selected:t}),Z(Vn,{title:`I may claim`,tasks:n.claimable.edges.map(e=>e.node).filter(e=>!e.assignee),selected:t})]}),t?Z(Un,{id:t,changed:i,touched:()=>a(e=>e+1)}):Z(`p`,{class:`muted`,children:`Choose a task.`})]}):Z(`p`,{class:`muted`,children:`Loading…`})}function Gn(){let[e,t]=L(``),[n,r]=L(!1);return Z(`form`,{class:`login card`,onSubmit:async e=>{e.preventDefault();let n=new FormData(e.currentTarget);r(!0),t(``);try{await Rt(String(n.get(`username`)),String(n.get(`password`)))}catch(e){t(e.message||`refused`)}finally{r(!1)}},children:[Z(`h1`,{children:`workflow-engine`}),Z(`label`,{children:[`Username `,Z(`input`,{name:`username`,autoComplete:`username`,required:!0,autoFocus:!0})]}),Z(`label`,{children:[`Password `,Z(`input`,{name:`password`,type:`password`,autoComplete:`current-password`,required:!0})]}),Z(`button`,{type:`submit`,disabled:n,children:`Log in`}),e&&Z(`p`,{class:`error`,role:`alert`,children:e})]})}var Kn=[[``,`Overview`],[`instances`,`Instances`],[`tasks`,`My tasks`],[`incidents`,`Incidents`],[`definitions`,`Definitions`]];function qn(){let[,e]=L(0),[t,n]=L(`closed`),r=Xt();if(R(()=>It(()=>e(e=>e+1)),[]),R(()=>Lt(n),[]),!Pt())return Z(Gn,{});let[i,a]=r.path,o;return o=i===`instances`&&a?Z(wn,{id:Number(a)},a):i===`instances`?Z(Dn,{route:r}):i===`tasks`?Z(Wn,{route:r}):i===`incidents`?Z(yn,{route:r}):i===`definitions`?Z(pn,{route:r}):Z(On,{}),Z(S,{children:[Z(`header`,{class:`top`,children:[Z(`b`,{class:`brand`,children:`workflow-engine`}),Z(`nav`,{children:Kn.map(([e,t])=>Z(`a`,{href:Y(e),class:(i??``)===e?`active`:``,children:t},e))}),Z(`span`,{class:`conn conn-${t}`,"data-testid":`connection`,title:`live updates`,children:t===`closed`?`idle`:t}),Z(`span`,{class:`who`,children:Ft()}),Z(`button`,{class:`secondary`,onClick:()=>void zt(),children:`Log out`})]}),Z(`main`,{children:o})]})}ue(Z(qn,{}),document.getElementById(`app`));